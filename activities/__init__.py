"""Activities: everything that touches Zoom, the database, Redis or the disk."""

from __future__ import annotations


def build_activities(services) -> list:
    """Every activity callable, bound to this process's services."""
    from activities.token_refresh import TokenRefreshActivities
    from activities.booking import booking_activities
    from activities.recording_steps import recording_activities

    token_refresh = TokenRefreshActivities(services)
    return [
        token_refresh.refresh_due_connections,
        token_refresh.report_token_sweep,
        *booking_activities(services),
        *recording_activities(services),
    ]
