"""The house's limits (issue 18): small modules, and the watch flow only its Prefect wiring.

``flows/watch.py`` grew past its limit unnoticed once (history and alerts added to it), so
the limits are checked here rather than remembered.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACK = [ROOT / "tasks", ROOT / "flows"]
MODULE_LIMIT = 400
WATCH_FLOW_LIMIT = 200


def _lines(path: Path) -> int:
    return len(path.read_text("utf-8").splitlines())


def test_no_module_of_the_pack_is_over_400_lines() -> None:
    modules = [path for folder in PACK for path in folder.rglob("*.py")]
    assert len(modules) > 50, "the pack's modules were not found"
    too_long = {
        str(path.relative_to(ROOT)): _lines(path) for path in modules if _lines(path) > MODULE_LIMIT
    }
    assert too_long == {}


def test_the_watch_flow_module_stays_under_200_lines() -> None:
    assert _lines(ROOT / "flows" / "watch.py") < WATCH_FLOW_LIMIT
