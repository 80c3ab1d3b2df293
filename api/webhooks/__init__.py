"""Zoom's webhooks, top to bottom: one file per step an event takes.

intake.py    the route: signature, timestamp window, parse, store, answer Zoom
inbox.py     the webhook_events table: each event stored once, with its booking
delivery.py  the booking's `zoom_event` signal, sent after Zoom has its answer
sweeper.py   what could not be delivered at once, retried until it is

The signal itself is sent by api/booking_workflow.py, the one module that talks to
IdiBookingWorkflow from outside; the event catalogue is zoom/webhooks.py.
"""
