"""A stand-in for a booking's workflow that keeps every `zoom_event` signal, in arrival order.

In a module of its own with nothing but Temporal and the signal type: the workflow sandbox
re-imports a workflow's module for every run, and the test helpers import the database layer.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.booking_types import ZoomEventSignal


@workflow.defn(name="SignalRecorder")
class SignalRecorder:
    """Stands in for a booking's workflow: keeps every zoom_event signal, in arrival order."""

    def __init__(self) -> None:
        self._seen: list[ZoomEventSignal] = []
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)

    @workflow.signal(name="zoom_event")
    def zoom_event(self, event: ZoomEventSignal) -> None:
        self._seen.append(event)

    @workflow.signal
    def finish(self) -> None:
        self._done = True

    @workflow.query
    def seen(self) -> list[ZoomEventSignal]:
        return self._seen
