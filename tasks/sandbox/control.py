"""The control API under ``/_sandbox/``: tests and demos script a running sandbox over HTTP.

Why: a CLI or a flow running in a subprocess cannot call ``SandboxServer`` methods, so each
scripting method has an endpoint (documented in ``python -m prefect_botpenguin.sandbox
--help`` and deployments/EVENTS.md). No authentication, hence the loopback-only bind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from .faults import Fault
from .transport import Reply, json_reply, normalise_path


class Scriptable(Protocol):
    """The sandbox methods the control API calls."""

    def inject(self, *faults: Fault) -> None: ...

    def reset(self) -> None: ...

    def set_segments(self, segments: list[dict[str, Any]], *, token: str | None = None) -> None: ...

    @property
    def move_contact(self) -> Callable[..., None]:
        """``SandboxServer.move_contact`` (contact id; source, target, token by keyword)."""

    def statistics(self) -> dict[str, Any]: ...

    @property
    def pending_faults(self) -> list[Fault]: ...


def _faults(sandbox: Scriptable, body: bytes) -> Reply:
    payload = json.loads(body or b"[]")
    items = payload if isinstance(payload, list) else [payload]
    faults = [Fault.from_dict(item) for item in items]
    sandbox.inject(*faults)
    return json_reply(200, {"queued": len(faults), "pending": len(sandbox.pending_faults)})


def _stats(sandbox: Scriptable, body: bytes) -> Reply:
    return json_reply(200, sandbox.statistics())


def _reset(sandbox: Scriptable, body: bytes) -> Reply:
    sandbox.reset()
    return json_reply(200, {"reset": True})


def _segments(sandbox: Scriptable, body: bytes) -> Reply:
    payload = json.loads(body or b"{}")
    if not isinstance(payload, dict) or not isinstance(payload.get("segments"), list):
        raise ValueError('expected {"segments": [...], "token": optional}')
    token = payload.get("token")
    if token is not None and not isinstance(token, str):
        raise TypeError("'token' must be a string")
    sandbox.set_segments(payload["segments"], token=token)
    return json_reply(200, {"segments": len(payload["segments"])})


def _members(sandbox: Scriptable, body: bytes) -> Reply:
    """``{"contact_id", "from": optional, "to": optional, "token": optional}``: move one."""
    payload = json.loads(body or b"{}")
    if not isinstance(payload, dict) or not isinstance(payload.get("contact_id"), str):
        raise ValueError('expected {"contact_id": ..., "from": ..., "to": ..., "token": ...}')
    for key in ("from", "to", "token"):
        if payload.get(key) is not None and not isinstance(payload[key], str):
            raise TypeError(f"{key!r} must be a string")
    try:
        sandbox.move_contact(
            payload["contact_id"],
            source=payload.get("from"),
            target=payload.get("to"),
            token=payload.get("token"),
        )
    except KeyError as exc:
        return json_reply(404, {"error": str(exc.args[0])})
    return json_reply(200, {"moved": payload["contact_id"]})


ControlRoute = Callable[[Scriptable, bytes], Reply]

CONTROL_ROUTES: Mapping[str, Mapping[str, ControlRoute]] = {
    "/_sandbox/faults": {"POST": _faults},
    "/_sandbox/stats": {"GET": _stats},
    "/_sandbox/reset": {"POST": _reset},
    "/_sandbox/segments": {"POST": _segments},
    "/_sandbox/members": {"POST": _members},
}
"""Path -> method -> handler; every one is documented in the sandbox's ``--help``."""


def answer_control(sandbox: Scriptable, method: str, target: str, body: bytes) -> Reply:
    """Route one control request; bad input is a 400 with the reason, never a traceback."""
    path = normalise_path(urlsplit(target).path)
    route = CONTROL_ROUTES.get(path)
    if route is None:
        return json_reply(404, {"error": f"unknown control endpoint {path}"})
    handler = route.get(method)
    if handler is None:
        return json_reply(405, {"error": f"{path} accepts {', '.join(sorted(route))}"})
    try:
        return handler(sandbox, body)
    except (ValueError, TypeError) as exc:
        return json_reply(400, {"error": str(exc)})
