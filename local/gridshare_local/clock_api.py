"""The local stack's clock over HTTP, so processes outside the stack (the `gridshare clock` command, a
fleet simulator, tests) can read and move it: `GET /_local/clock` and `POST /_local/clock/advance`.

Only registered by the local stack (never deployed): the routes are `local_only`, which keeps them out of
the CDK API and the OpenAPI document, and they exist only in this package, which is never shipped to
Lambda. Moving time is the running LocalClock's job (gridshare_local.clock): it writes the offset every
process of the stack reads and fires the schedules that fell due in the skipped span before it answers.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, StrictInt

from gridshare.http.api import ApiBlueprint
from gridshare.http.models import ApiModel
from gridshare.http.responses import Envelope, ResponseModel, Timestamp
from gridshare.kernel import clock, errors
from gridshare_local import clock as local_clock

api = ApiBlueprint("local")


class AdvanceBody(ApiModel):
    seconds: StrictInt = Field(
        gt=0, le=local_clock.MAX_ADVANCE_S, description="how far to move the stack's now forward, in whole seconds"
    )


class ClockView(ResponseModel):
    now: Timestamp = Field(description="the stack's now")
    now_ms: int
    offset_s: int | float = Field(description="how far the stack's now is ahead of real time, in seconds")


class AdvancedClock(ClockView):
    fired: list[str] = Field(description="the schedules (group/name) that fell due, in the order they fired")


def clock_view(now_ms: int, offset_ms: int) -> dict[str, Any]:
    offset_s = offset_ms // 1000 if offset_ms % 1000 == 0 else offset_ms / 1000
    return {"now": clock.to_iso(now_ms), "nowMs": now_ms, "offsetS": offset_s}


@api.route(
    "/_local/clock",
    "GET",
    roles=None,
    local_only=True,
    response=Envelope[ClockView],
    summary="The local stack's now and how far it was moved ahead of real time (local stack only)",
)
def get_clock() -> dict:
    offset = clock.offset_ms()
    return {"data": clock_view(clock.now_ms(), offset)}


@api.route(
    "/_local/clock/advance",
    "POST",
    roles=None,
    body=AdvanceBody,
    local_only=True,
    response=Envelope[AdvancedClock],
    errors=(503,),  # the clock is not running
    summary="Move the local stack's now forward; fires the schedules that fall due, in order (local stack only)",
)
def advance_clock(body: AdvanceBody) -> dict:
    running = local_clock.current()
    if running is None or running.clock_file is None:
        raise errors.Unavailable("The local clock is not running, so time cannot be moved.")
    result = running.advance(body.seconds)
    return {"data": {**clock_view(result.now_ms, result.offset_ms), "fired": result.fired}}
