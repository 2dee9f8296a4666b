"""The UI tests' browser, and reading what it drew from a screenshot, with the stdlib only.

Debian's Chromium (the ``chromium`` fixture) driven by Playwright; never a downloaded browser.
Screenshots are PNG files, decoded here with ``zlib`` (Pillow is not a dependency).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import FloatRect, Locator, Page, sync_playwright

OUTPUT = Path(__file__).resolve().parents[2] / "test-output"
CHROMIUM_ARGS = [
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
Pixels = list[list[tuple[int, int, int]]]
"""Rows of RGB pixels, top to bottom."""


@contextmanager
def ui_page(chromium: Path, screenshot_name: str) -> Iterator[tuple[Page, list[str]]]:
    """Debian's Chromium on one page; failed API answers collected, a screenshot at the end.

    A failure inside the block is re-raised with the API calls the UI turned into an "Oops"
    toast, which is usually why a UI step timed out.
    """
    screenshot = OUTPUT / screenshot_name
    screenshot.parent.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        failed: list[str] = []
        page.on(
            "response",
            lambda r: (
                failed.append(f"{r.status} {r.request.method} {r.url}") if r.status >= 400 else None
            ),
        )
        try:
            yield page, failed
        except Exception as exc:
            raise AssertionError(f"UI step failed; failed API calls: {failed}") from exc
        finally:
            page.screenshot(path=screenshot, full_page=True)
            browser.close()


def decode_png(data: bytes) -> Pixels:
    """RGB rows of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, header, compressed = 8, b"", b""
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        header = body if kind == b"IHDR" else header
        compressed += body if kind == b"IDAT" else b""
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert colour in (2, 6), f"colour type {colour}"
    channels = 4 if colour == 6 else 3
    raw, stride = zlib.decompress(compressed), width * channels
    rows: list[bytearray] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            line[x] = (line[x] + _predict(kind, left, up, corner)) & 0xFF
        rows.append(line)
        previous = line
    return [[(row[x], row[x + 1], row[x + 2]) for x in range(0, stride, channels)] for row in rows]


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    """PNG filter types 0-4 (None, Sub, Up, Average, Paeth)."""
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]


def ink_heights(pixels: Pixels, columns: int, background: tuple[int, int, int]) -> list[int]:
    """Rows holding ink (a pixel far from ``background``) in each of ``columns`` equal slices.

    Each slice's middle half only, so a neighbour's anti-aliased edge is not counted.
    """
    width = len(pixels[0])
    heights = []
    for column in range(columns):
        left = int((column + 0.25) * width / columns)
        right = max(int((column + 0.75) * width / columns), left + 1)
        heights.append(
            sum(
                any(
                    sum(abs(a - b) for a, b in zip(p, background, strict=True)) > 96
                    for p in row[left:right]
                )
                for row in pixels
            )
        )
    return heights


def _ink(pixel: tuple[int, int, int], background: tuple[int, int, int]) -> bool:
    return sum(abs(a - b) for a, b in zip(pixel, background, strict=True)) > 96


_TEXT_BOX = """(element, text) => {
    const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const at = node.data.indexOf(text);
        if (at < 0) continue;
        const range = document.createRange();
        range.setStart(node, at);
        range.setEnd(node, at + text.length);
        const box = range.getBoundingClientRect();
        return {x: box.x, y: box.y, width: box.width, height: box.height};
    }
    return null;
}"""


def text_box(element: Locator, text: str) -> FloatRect:
    """Where ``text`` is drawn inside ``element``, in the viewport: a screenshot's clip."""
    box: FloatRect | None = element.evaluate(_TEXT_BOX, text)
    assert box, f"{text!r} is not in the element"
    return box
