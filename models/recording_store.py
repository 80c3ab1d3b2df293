"""Where recording files live: a directory tree under RECORDINGS_DIR, one file per Zoom file.

Paths are `{org}/{booking}/{file id}.{ext}` relative to the root, and the database stores that
relative path, so the whole store can move (or become an object store) without touching rows.
A download writes `<path>.part` and renames it into place only once it is whole and checked, so a
file at its final path is always complete; the part file is what a resumed download continues.
Every path is checked to stay inside the root, whatever a row says.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from pathlib import Path

CHUNK = 1 << 20  # 1 MiB: memory stays flat whatever the file size

_SAFE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_EXTENSION = re.compile(r"[A-Za-z0-9]{0,8}")


class RecordingStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()

    @classmethod
    def from_settings(cls, settings) -> "RecordingStore":
        return cls(settings.recordings_dir)

    def __repr__(self) -> str:
        return f"RecordingStore({str(self.root)!r})"

    @staticmethod
    def relative_path(org_id: str, booking_id: str, file_id: str, extension: str) -> str:
        for part in (org_id, booking_id, file_id):
            if not _SAFE.fullmatch(part):
                raise ValueError(f"not a storable id: {part!r}")
        ext = (extension or "bin").lower()
        if not _EXTENSION.fullmatch(ext):
            ext = "bin"
        return f"{org_id}/{booking_id}/{file_id}.{ext}"

    def path(self, relative: str) -> Path:
        """The absolute path of a stored file; ValueError if it would leave the root."""
        candidate = Path(relative)
        path = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        if not path.is_relative_to(self.root) or path == self.root:
            raise ValueError("a recording path must stay inside RECORDINGS_DIR")
        return path

    def part_path(self, relative: str) -> Path:
        path = self.path(relative)
        return path.with_name(path.name + ".part")

    def stored(self, relative: str | None) -> Path | None:
        """The file, if the path is inside the store and the file is there."""
        if not relative:
            return None
        try:
            path = self.path(relative)
        except ValueError:
            return None
        return path if path.is_file() else None

    async def resume_point(self, part: Path) -> tuple[int, "hashlib._Hash"]:
        """How much of the part file is there, and the sha256 of those bytes, so a resumed
        download hashes the whole file without reading it again at the end."""
        return await asyncio.to_thread(_hash_part, part)

    async def finish(self, part: Path, relative: str) -> Path:
        """Flush the part file to disk and move it into place (atomic on one filesystem)."""
        final = self.path(relative)
        await asyncio.to_thread(_fsync_and_rename, part, final)
        return final


def _hash_part(part: Path) -> tuple[int, "hashlib._Hash"]:
    digest = hashlib.sha256()
    part.parent.mkdir(parents=True, exist_ok=True)
    if not part.exists():
        return 0, digest
    size = 0
    with part.open("rb") as f:
        while piece := f.read(CHUNK):
            digest.update(piece)
            size += len(piece)
    return size, digest


def _fsync_and_rename(part: Path, final: Path) -> None:
    with part.open("rb") as f:
        os.fsync(f.fileno())
    os.replace(part, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
