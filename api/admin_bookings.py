"""Support's tools for bookings (admin key): re-drive a failed booking."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from api.auth import require_admin
from api.booking_workflow import NotRedrivable, redrive_booking
from api.context import SERVICES
from api.errors import ApiError
from api.openapi import documented
from workflows.booking_types import BookingStatusValue

routes = web.RouteTableDef()


class Redriven(BaseModel):
    id: str
    status: BookingStatusValue
    workflow_id: str


@routes.post("/v1/admin/bookings/{booking_id}/redrive")
@documented("Re-drive a failed booking (admin key): its workflow starts again under the same id",
            auth="admin", response=Redriven, status=202, errors=(401, 403, 404, 409))
async def post_redrive(request: web.Request) -> web.Response:
    require_admin(request)
    booking_id = request.match_info["booking_id"]
    try:
        booking = await redrive_booking(request.app[SERVICES], booking_id)
    except LookupError:
        raise ApiError(404, "booking_not_found", f"No booking {booking_id}.") from None
    except NotRedrivable as exc:
        raise ApiError(409, "booking_not_redrivable", str(exc)) from None
    return web.json_response(Redriven(id=booking.id, status=booking.status,
                                      workflow_id=booking.workflow_id).model_dump(), status=202)
