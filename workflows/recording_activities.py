"""What the recording steps ask of the outside world: activity names and signatures only.

The bodies live in activities/recordings.py and activities/recording_download.py (they need the
database, Zoom and the disk); the time-skipping tests register stand-ins under the same names.
"""

from __future__ import annotations

from temporalio import activity

from workflows.recording_types import (
    DownloadFileInput,
    FileFailed,
    PollInput,
    PollResult,
    RecordingFileRef,
    RecordingPlan,
    RecordingPlanInput,
    RegisterFilesInput,
    StoredFile,
)


@activity.defn(name="plan_recording")
async def plan_recording(inp: RecordingPlanInput) -> RecordingPlan:
    """Whether the host can cloud-record at all, and how long to wait for Zoom."""
    raise NotImplementedError


@activity.defn(name="register_recording_files")
async def register_recording_files(inp: RegisterFilesInput) -> list[RecordingFileRef]:
    """The files an inbox event announces, stored once each (unique meeting + Zoom file id)."""
    raise NotImplementedError


@activity.defn(name="poll_recording_files")
async def poll_recording_files(inp: PollInput) -> PollResult:
    """Zoom's own list of the meeting's recording files, for when a webhook did not come."""
    raise NotImplementedError


@activity.defn(name="download_recording_file")
async def download_recording_file(inp: DownloadFileInput) -> StoredFile:
    """Stream one file from Zoom into the recording store, resuming, checked, hashed."""
    raise NotImplementedError


@activity.defn(name="record_recording_file_failure")
async def record_recording_file_failure(inp: FileFailed) -> None:
    """Mark a file failed with its reason once Temporal has given up on it."""
    raise NotImplementedError
