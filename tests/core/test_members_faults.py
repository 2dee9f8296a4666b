"""The fault matrix for member listings: each fault hits page 2 of a 4-page listing, over HTTP.

Sibling of ``test_client_faults.py`` (whose rows fetch segments). Faults are consumed one per
request, so each script starts with ``Fault()`` (page 1 answered normally). Every row runs
twice against the sandbox (7 members of the VIP segment, 2 per page: pages 1-4, then the
empty page 5):

1. the pager alone: the outcome and the exact number of requests;
2. an export over an earlier good export: replaced after a success, byte-identical (same
   inode) after a failure, and never a temporary file left behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from prefect_botpenguin.core.client import BotPenguinClient
from prefect_botpenguin.core.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BotPenguinError,
    RateLimitedError,
    ResponseError,
    ServerError,
)
from prefect_botpenguin.core.members import get_segment_members
from prefect_botpenguin.core.retry import RetryPolicy
from prefect_botpenguin.members import write_members_export
from prefect_botpenguin.sandbox import SAMPLE_MEMBERSHIP, SAMPLE_SEGMENTS, Fault, SandboxServer

pytestmark = pytest.mark.integration

VIP = SAMPLE_SEGMENTS[0]["_id"]
MEMBERS = SAMPLE_MEMBERSHIP[VIP]
PAGES = 5  # 4 pages of members and the empty page that ends the listing
ATTEMPTS = 3
POLICY = RetryPolicy(max_attempts=ATTEMPTS, backoff_base=0.01, backoff_cap=0.02, deadline=5)
BEYOND = ATTEMPTS + 5
OK = Fault()


def envelope(data: object, success: bool = True, code: int = 200) -> dict[str, object]:
    return {"success": success, "message": "", "data": data, "code": code}


@dataclass(frozen=True)
class Row:
    """A fault on page 2, what the listing must raise (None: succeed) and its requests."""

    id: str
    faults: tuple[Fault, ...]
    error: type[BotPenguinError] | None
    requests: int
    members: list[str] = field(default_factory=lambda: list(MEMBERS))
    total: bool = False
    """Whether the sandbox announces a ``total`` beside ``data``."""


def on_page_two(*faults: Fault) -> tuple[Fault, ...]:
    return (OK, *faults)


ROWS = [
    Row("no fault", (), None, PAGES),
    Row("503 x2 on page 2, then OK", on_page_two(*[Fault.status_code(503)] * 2), None, PAGES + 2),
    Row(
        "503 on page 2 beyond the budget",
        on_page_two(*[Fault.status_code(503)] * BEYOND),
        ServerError,
        1 + ATTEMPTS,
    ),
    Row("429 Retry-After: 0 on page 2", on_page_two(Fault.retry_after(429, "0")), None, PAGES + 1),
    Row(
        "429 on page 2 beyond the budget",
        on_page_two(*[Fault.status_code(429)] * BEYOND),
        RateLimitedError,
        1 + ATTEMPTS,
    ),
    Row("reset mid-body on page 2, then OK", on_page_two(Fault.reset_mid_body()), None, PAGES + 1),
    Row(
        "reset mid-body on page 2 beyond the budget",
        on_page_two(*[Fault.reset_mid_body()] * BEYOND),
        APIConnectionError,
        1 + ATTEMPTS,
    ),
    Row(
        "read timeout on page 2 beyond the budget",
        on_page_two(*[Fault(latency=1.0)] * BEYOND),
        APITimeoutError,
        1 + ATTEMPTS,
    ),
    Row("HTML page on page 2", on_page_two(Fault.malformed()), ResponseError, 2),
    Row(
        "success: false with code 503 on page 2 beyond the budget",
        on_page_two(*[Fault(body=envelope([], False, 503))] * BEYOND),
        ResponseError,
        1 + ATTEMPTS,
    ),
    Row(
        "401 on page 2 (token rotated mid-listing)",
        on_page_two(Fault(status=401, body=envelope([], False, 401))),
        AuthenticationError,
        2,
    ),
    Row(
        "data is an object on page 2",
        on_page_two(Fault(body=envelope({"users": []}))),
        ResponseError,
        2,
    ),
    Row(
        "a contact without _id on page 2",
        on_page_two(Fault(body=envelope([{"name": "Sample Contact"}]))),
        ResponseError,
        2,
    ),
    Row(
        "page 2 repeats page 1 forever (loop guard)",
        on_page_two(*[Fault.repeated_page(1)] * BEYOND),
        ResponseError,
        2,
    ),
    Row(
        "empty page 2 without a total (ends early: the documented stop rule)",
        on_page_two(Fault.empty()),
        None,
        2,
        members=MEMBERS[:2],
    ),
    Row(
        "empty page 2 with a total (ended early: refused)",
        on_page_two(Fault.empty()),
        ResponseError,
        2,
        total=True,
    ),
]


@pytest.fixture
def sandbox_for(request: pytest.FixtureRequest):
    row: Row = request.param
    with SandboxServer(member_page_size=2, member_total=row.total) as sandbox:
        yield row, sandbox


def client(sandbox: SandboxServer) -> BotPenguinClient:
    return BotPenguinClient(
        sandbox.token, base_url=sandbox.url, retry_policy=POLICY, read_timeout=0.5
    )


@pytest.mark.parametrize(
    "sandbox_for", [pytest.param(row, id=row.id) for row in ROWS], indirect=True
)
async def test_member_fault_matrix_row(
    sandbox_for: tuple[Row, SandboxServer], tmp_path: Path
) -> None:
    row, sandbox = sandbox_for
    target = tmp_path / "members.jsonl"
    async with client(sandbox) as api:
        await write_members_export(api, target, segment_ids=[VIP])
    before = (target.read_bytes(), target.stat().st_ino)

    sandbox.reset()
    sandbox.inject(*row.faults)
    error: BotPenguinError | None = None
    members: list[str] = []
    async with client(sandbox) as api:
        try:
            members = [c.id for c in await get_segment_members(api, VIP)]
        except BotPenguinError as exc:
            error = exc
    requests = sandbox.request_count

    sandbox.reset()
    sandbox.inject(*row.faults)
    export_error: BotPenguinError | None = None
    async with client(sandbox) as api:
        try:
            await write_members_export(api, target, segment_ids=[VIP])
        except BotPenguinError as exc:
            export_error = exc

    if row.error is None:
        assert error is None, f"unexpected {error!r}"
        assert members == row.members
        assert export_error is None
        assert target.stat().st_ino != before[1], "the export was not rewritten"
        assert len(target.read_text().splitlines()) == len(row.members)
    else:
        assert type(error) is row.error, f"expected {row.error.__name__}: {error!r}"
        assert "\n" not in str(error)
        assert type(export_error) is row.error
        assert (target.read_bytes(), target.stat().st_ino) == before
    assert requests == row.requests
    assert sandbox.request_count == row.requests, "the export made other requests"
    assert [p.name for p in tmp_path.iterdir()] == ["members.jsonl"], "a temp file was left"
