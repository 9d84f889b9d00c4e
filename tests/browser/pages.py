"""What a person does on STAX's pages, shared by the browser tests."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect

from services.intake.pages.texts import TEXTS, Language


async def sign_in(
    page: Page, intake: str, area: str, key: str, shot: Path | None = None, lang: Language = "en"
) -> None:
    """Open the sign-in page, paste the key, press Enter (the keyboard alone signs in). The
    field and the button are found by their words in `lang`, the page's language."""
    await page.goto(f"{intake}/{area}/sign-in")
    if shot is not None:
        await page.screenshot(path=shot, full_page=True)
    field = page.get_by_label(TEXTS[lang]["sign_in.key"])
    await field.fill(key)
    await field.press("Enter")
    await expect(page.get_by_role("button", name=TEXTS[lang]["sign_out"])).to_be_visible()
