"""Per-participant audio: `participant_audio_files` in recording.completed (Zoom's "record a
separate audio file of each participant" setting; Rivet's RecordingCompletedEvent).

Kept apart on purpose, as the smallest emission the service's tests need: another change to the
emulator's media may replace it. Each entry has the fields of a `recording_files` entry except
`recording_type` and `meeting_id`, with a `file_name` naming the person ("Audio only - Riley
Chen"). The files download like any other (same /rec/download route and tokens) but are not
listed in the instance's `recording_files`.
"""

from __future__ import annotations

from typing import Any

from .state import Instance, RecordingFile, World, iso

AUDIO_SIZE = 48_000


def add_participant_audio(world: World, instance: Instance, base: str) -> list[dict[str, Any]]:
    """One M4A per person who was in the meeting (by participant uuid), as JSON entries."""
    entries, seen = [], set()
    start = instance.started_at + 2
    end = max(instance.ended_at or start, start)
    for j in instance.participants:
        if j.participant_uuid in seen:
            continue
        seen.add(j.participant_uuid)
        f = RecordingFile(world.new_file_key(), "M4A", AUDIO_SIZE, None, start, end)
        world.files[f.key] = (instance, f)
        entries.append({
            "id": f.key, "recording_start": iso(start), "recording_end": iso(end),
            "file_name": f"Audio only - {j.name}", "file_type": "M4A", "file_extension": "M4A",
            "file_size": f.size, "play_url": f"{base}/rec/play/{f.key}",
            "download_url": f"{base}/rec/download/{f.key}", "status": "completed",
        })
    return entries
