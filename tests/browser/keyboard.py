"""Where the keyboard is on a page, as a person using it sees it: the browser tests press Tab
and check that each link and button they reach shows its focus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Page


@dataclass(frozen=True)
class Focused:
    """The element the keyboard is on, as a person sees it."""

    tag: str
    text: str
    label: str
    row: str  # the id of its table row, if in one
    in_main: bool
    width: float
    height: float
    outline: str  # computed outline-style
    outline_width: float
    outline_contrast: float  # of the outline's colour against the page's background


FOCUSED = """() => {
  const e = document.activeElement, s = getComputedStyle(e), box = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), text: (e.innerText || "").trim(),
          label: e.labels && e.labels.length ? e.labels[0].innerText.trim() : "",
          row: e.closest("tr") ? e.closest("tr").id : "", in_main: !!e.closest("main"),
          width: box.width, height: box.height, outline: s.outlineStyle,
          outline_width: parseFloat(s.outlineWidth), outline_color: s.outlineColor,
          background: getComputedStyle(document.body).backgroundColor};
}"""


async def tab(page: Page) -> Focused:
    await page.keyboard.press("Tab")
    seen: dict[str, Any] = await page.evaluate(FOCUSED)
    contrast = _contrast(seen.pop("outline_color"), seen.pop("background"))
    return Focused(**seen, outline_contrast=contrast)


async def tab_to(page: Page, wanted: Callable[[Focused], bool], limit: int = 40) -> Focused:
    """Tab until `wanted` holds; every link and button passed on the way shows its focus."""
    for _ in range(limit):
        focused = await tab(page)
        if focused.tag in ("a", "button"):
            assert_focus_shows(focused)
        if wanted(focused):
            return focused
    raise AssertionError(f"not reached in {limit} presses of Tab; last: {focused}")


def assert_focus_shows(focused: Focused) -> None:
    """WCAG 2.4.7: a visible indicator; and (2.4.11, 1.4.11) one of 3:1 against the page."""
    assert focused.width > 1 and focused.height > 1, f"focused but not shown: {focused}"
    assert focused.outline != "none" and focused.outline_width >= 2, focused
    assert focused.outline_contrast >= 3, focused


def _contrast(colour: str, background: str) -> float:
    """WCAG's contrast ratio of two computed CSS colours, `rgb(r, g, b)` or `rgba(...)`."""
    lighter, darker = sorted((_luminance(colour), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _luminance(colour: str) -> float:
    channels = [int(float(c)) / 255 for c in colour[colour.index("(") + 1 : -1].split(",")[:3]]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
