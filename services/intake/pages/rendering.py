"""How every page is answered: a template in the reader's language, and the headers every page
carries (the token of an answer link is in the URL: no referrer, no cache, no framing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from services.intake.pages.texts import TEXTS, Language

TEMPLATES = Path(__file__).parent.parent / "templates"
STATIC = Path(__file__).parent / "static"

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Pages:
    def __init__(self, folder: Path = TEMPLATES) -> None:
        # "html.j2" listed: select_autoescape(["html"]) alone would not escape `*.html.j2`, and
        # titles and partner names are other people's text.
        self._env = Environment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(["html", "html.j2"]),
            undefined=StrictUndefined,
        )

    def page(
        self, name: str, lang: Language, status: int, heading: str, /, **context: Any
    ) -> HTMLResponse:
        # Positional-only: a page's context may well hold a `status` (a request's, a filter's).
        t = TEXTS[lang]
        html = self._env.get_template(name).render(lang=lang, t=t, heading=heading, **context)
        headers = HEADERS | {"Content-Language": lang}
        return HTMLResponse(html, status_code=status, headers=headers)

    def text(self, lang: Language, key: str) -> str:
        return TEXTS[lang][key]

    def message(self, lang: Language, status: int, key: str, **fill: str) -> HTMLResponse:
        """A page that only says something: `key`.title and `key`.text, in `lang`."""
        return self.say(lang, status, f"{key}.title", f"{key}.text", **fill)

    def say(
        self, lang: Language, status: int, title_key: str, text_key: str, **fill: str
    ) -> HTMLResponse:
        t = TEXTS[lang]
        text = t[text_key].format(**fill)
        return self.page("message.html.j2", lang, status, t[title_key], text=text)
