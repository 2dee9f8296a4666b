"""The emulated ``GET /inbox/segments``: an account's segments, as stored."""

from __future__ import annotations

from typing import Any

from .api import AccountStore, ApiCall, Routes


def get_segments(store: AccountStore, call: ApiCall) -> list[dict[str, Any]]:
    """The caller's segments; a partner token without an account of its own sees none."""
    with store.lock:
        # No copy: stored lists are replaced (set_segments), never changed in place, and
        # the answer is only read to encode it. Copying 20,000 segments per request would
        # make benchmarks measure the sandbox instead of the client.
        return store.accounts.get(call.token, [])


ROUTES: Routes = {"/inbox/segments": {"GET": get_segments}}
