"""Where recording files live: a directory tree under RECORDINGS_DIR, one file per Zoom file.

Paths are `{org}/{booking}/{file id}.{ext}` relative to the root, and the database stores that
relative path, so the whole store can move (or become an object store) without touching rows.
A download writes `<path>.part` and renames it into place only once it is whole and checked, so a
file at its final path is always complete; the part file is what a resumed download continues.
Every path is checked to stay inside the root, whatever a row says.

A part file is written with O_DIRECT where the filesystem takes it: a recording is not read back
soon, and on the VMs we measured, putting 1 GiB through the page cache cost 1.2-1.6 s of kernel
CPU (fresh guest pages) plus 0.4 s of fsync at the end, against 0.1 s for direct writes
(bench/README.md#downloads). Direct writes need aligned buffers (`aligned_buffer()`), offsets and
lengths; a write that is not (a file's last chunk, a resume from a cut mid-chunk) is buffered.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import mmap
import os
import re
from pathlib import Path

CHUNK = 1 << 20  # 1 MiB: memory stays flat whatever the file size
_DIRECT_ALIGN = 4096  # a multiple of any disk's logical block size

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


def aligned_buffer(size: int = CHUNK) -> memoryview:
    """A buffer a part file can write without a copy (page-aligned)."""
    return memoryview(mmap.mmap(-1, size))


class PartFile:
    """Appends to a part file from `offset` on (truncating it when 0). One thread writes at a
    time; `close` waits for nothing, the data is made durable by `RecordingStore.finish`."""

    def __init__(self, part: Path, offset: int) -> None:
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if offset == 0 else 0)
        self._fd = os.open(part, flags, 0o644)
        self._direct: int | None = None
        if hasattr(os, "O_DIRECT"):
            try:
                self._direct = os.open(part, os.O_WRONLY | os.O_DIRECT)
            except OSError:  # tmpfs and some others refuse it: every write is buffered
                self._direct = None
        self.offset = offset

    def write(self, data: memoryview) -> None:
        """All of `data` at the end; direct when the offset and length are aligned (and `data`
        starts an `aligned_buffer()`)."""
        while data:
            direct = self._direct is not None and not (self.offset | len(data)) % _DIRECT_ALIGN
            try:
                n = os.pwrite(self._direct if direct else self._fd, data, self.offset)
            except OSError as exc:
                if not direct or exc.errno != errno.EINVAL:
                    raise
                os.close(self._direct)  # alignment this filesystem will not take: buffered from now on
                self._direct = None
                continue
            data, self.offset = data[n:], self.offset + n

    def close(self) -> None:
        for fd in (self._fd, self._direct):
            if fd is not None:
                os.close(fd)

    def __enter__(self) -> "PartFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
