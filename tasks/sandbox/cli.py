"""``python -m prefect_botpenguin.sandbox``: serve the sample data in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from types import FrameType
from typing import Any

from .data import SAMPLE_SEGMENTS, SANDBOX_TOKEN, ContactBook
from .server import DEFAULT_PORT, SandboxServer

CONTROL_API_HELP = """\
control API (no authentication; loopback only), to change the data while it runs so the next
watch run emits botpenguin.segment.* events (see deployments/EVENTS.md):
  POST /_sandbox/segments  {"segments": [...], "token": optional}  replace an account's segments
  POST /_sandbox/members   {"contact_id": ..., "from": ..., "to": ..., "token": ...}  move a contact
  POST /_sandbox/faults    a fault or a list of faults (status, body, latency, drop, ...)
  GET  /_sandbox/stats     request counts and log
  POST /_sandbox/reset     forget faults and statistics (not data)
example:
  curl -X POST http://127.0.0.1:8765/_sandbox/segments \\
    -d '{"segments": [{"_id": "6a1c0ffee5a1e0000b0a7e03", "segmentName": "Newsletter"}]}'
"""


def main(argv: list[str] | None = None) -> int:
    """Run the sandbox in the foreground until Ctrl-C or SIGTERM; exit code 0 when stopped."""
    parser = argparse.ArgumentParser(
        prog="python -m prefect_botpenguin.sandbox",
        description="Serve invented BotPenguin sample data on loopback, for offline demos.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=CONTROL_API_HELP,
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default: %(default)s)"
    )
    parser.add_argument(
        "--token",
        action="append",
        help=f"accepted token; repeat for several accounts (default: {SANDBOX_TOKEN})",
    )
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every API request"
    )
    args = parser.parse_args(argv)
    tokens: list[str] = args.token or [SANDBOX_TOKEN]
    try:
        server = SandboxServer(
            args.host,
            args.port,
            accounts=dict.fromkeys(tokens, SAMPLE_SEGMENTS),
            members={token: ContactBook.sample() for token in tokens},
            latency=args.latency,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1

    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: keep default handling
            previous[sig] = signal.signal(sig, _on_signal)
    label = "token" if len(tokens) == 1 else "tokens"
    try:
        # KeyboardInterrupt only if SIGINT could not be routed to _on_signal.
        with server, contextlib.suppress(KeyboardInterrupt):
            print(
                f"BotPenguin sandbox (sample data) on {server.url}  {label}: {', '.join(tokens)}",
                flush=True,
            )
            while not stop.is_set():
                stop.wait(0.5)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())
