"""What a person does on STAX's pages, shared by the browser tests."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Page, expect


async def sign_in(page: Page, intake: str, area: str, key: str, shot: Path | None = None) -> None:
    """Open the sign-in page, paste the key, press Enter (the keyboard alone signs in)."""
    await page.goto(f"{intake}/{area}/sign-in")
    if shot is not None:
        await page.screenshot(path=shot, full_page=True)
    await page.get_by_label("API key").fill(key)
    await page.get_by_label("API key").press("Enter")
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()
