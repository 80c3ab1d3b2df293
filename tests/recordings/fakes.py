"""Stand-ins for the booking's and the recording steps' activities, for time-skipping tests.

They register under the real activity names, play Zoom's part (what each webhook announced, what
Zoom's recording list holds, which download fails) and record every call, so a test shows what
the workflow decided, in what order and at what (virtual) time.
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
    RecordingTimings,
    RegisterFilesInput,
    StoredFile,
)
from workflows.booking_types import (
    AttendanceInput,
    AttendanceSummary,
    BookingHost,
    BookingStatusChange,
    CreateMeetingInput,
    DeleteMeetingInput,
    MeetingRef,
    RegistrationResult,
    RescheduleMeetingInput,
    ResolveHostInput,
    SettleAttendanceInput,
)

HOST = BookingHost(kind="org", connection_id="conn-1", label="Acme Research's Zoom")


def ref(file_id: str, file_type: str, size: int | None = 1000) -> RecordingFileRef:
    ext = {"MP4": "MP4", "M4A": "M4A", "TRANSCRIPT": "VTT", "CHAT": "TXT"}.get(file_type, "BIN")
    return RecordingFileRef(id=file_id, zoom_file_id=f"zoom-{file_id}", file_type=file_type,
                            file_extension=ext, expected_size=size)


class FakeBooking:
    """The booking activities: an org host, one meeting, statuses recorded."""

    def __init__(self) -> None:
        self.statuses: list[BookingStatusChange] = []

    @activity.defn(name="resolve_booking_host")
    async def resolve_booking_host(self, inp: ResolveHostInput) -> BookingHost:
        return HOST

    @activity.defn(name="create_booking_meeting")
    async def create_booking_meeting(self, inp: CreateMeetingInput) -> MeetingRef:
        return MeetingRef(booking_id=inp.booking_id, zoom_meeting_id="81234567890", host_kind="org")

    @activity.defn(name="reschedule_booking_meeting")
    async def reschedule_booking_meeting(self, inp: RescheduleMeetingInput) -> MeetingRef:
        return MeetingRef(booking_id=inp.booking_id, zoom_meeting_id="81234567890", host_kind="org")

    @activity.defn(name="delete_booking_meeting")
    async def delete_booking_meeting(self, inp: DeleteMeetingInput) -> None:
        return None

    @activity.defn(name="record_booking_status")
    async def record_booking_status(self, change: BookingStatusChange) -> None:
        self.statuses.append(change)

    def activities(self) -> list:
        return [self.resolve_booking_host, self.create_booking_meeting, self.reschedule_booking_meeting,
                self.delete_booking_meeting, self.record_booking_status]

    @property
    def trail(self) -> list[tuple[str, str | None]]:
        return [(c.status, c.reason) for c in self.statuses]


class FakeZoomFiles:
    """The recording activities. `announced[event_id]`: files a webhook carried; `at_zoom`:
    Zoom's recording list (what a poll finds); `download_errors[file_id]`: raised on download."""

    def __init__(self, timings: RecordingTimings | None = None) -> None:
        self.plan = RecordingPlan(booking_id="", host_can_cloud_record=True,
                                  timings=timings or RecordingTimings())
        self.announced: dict[str, list[RecordingFileRef]] = {}
        self.at_zoom: list[RecordingFileRef] = []
        self.download_errors: dict[str, Exception] = {}
        self.registered: list[str] = []
        self.polls: list[PollInput] = []
        self.downloads: list[str] = []
        self.failures: list[FileFailed] = []

    @activity.defn(name="plan_recording")
    async def plan_recording(self, inp: RecordingPlanInput) -> RecordingPlan:
        return self.plan.model_copy(update={"booking_id": inp.booking_id})

    @activity.defn(name="register_recording_files")
    async def register_recording_files(self, inp: RegisterFilesInput) -> list[RecordingFileRef]:
        self.registered.append(inp.event_id)
        return self.announced.get(inp.event_id, [])

    @activity.defn(name="poll_recording_files")
    async def poll_recording_files(self, inp: PollInput) -> PollResult:
        self.polls.append(inp)
        return PollResult(files=list(self.at_zoom), reason=None if self.at_zoom else "not_ready")

    @activity.defn(name="download_recording_file")
    async def download_recording_file(self, inp: DownloadFileInput) -> StoredFile:
        self.downloads.append(inp.file_id)
        if inp.file_id in self.download_errors:
            raise self.download_errors[inp.file_id]
        return StoredFile(file_id=inp.file_id, size_bytes=1000, sha256="0" * 64)

    @activity.defn(name="record_recording_file_failure")
    async def record_recording_file_failure(self, inp: FileFailed) -> None:
        self.failures.append(inp)

    # Attendance: what the settle says (default: nothing known, so no outcome changes).
    attendance: AttendanceSummary = AttendanceSummary()

    @activity.defn(name="register_interviewee")
    async def register_interviewee(self, ref: MeetingRef) -> RegistrationResult:
        return RegistrationResult(registered=True)

    @activity.defn(name="record_attendance")
    async def record_attendance(self, inp: AttendanceInput) -> int:
        self.attendance_records = getattr(self, "attendance_records", 0) + 1
        return 0

    @activity.defn(name="settle_attendance")
    async def settle_attendance(self, inp: SettleAttendanceInput) -> AttendanceSummary:
        self.settles = [*getattr(self, "settles", []), inp]
        return self.attendance

    def activities(self) -> list:
        return [self.plan_recording, self.register_recording_files, self.poll_recording_files,
                self.download_recording_file, self.record_recording_file_failure,
                self.record_attendance, self.settle_attendance, self.register_interviewee]
