"""The subscriptions API in-process on the real PostgreSQL: webhook secrets are decode-checked
when set, and each partner has at most so many endpoints and contacts, even under concurrent
creation. Refusals are 422 with a reason for the field at fault."""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import asyncpg
import httpx
import pytest

from services.notifier import domain
from services.notifier.settings import NotifierSettings
from tests.notifier.helpers import api_client


def _secret(size: int) -> str:
    return "whsec_" + base64.b64encode(os.urandom(size)).decode()


# Each matches the old pattern (whsec_ + 32 or more base64 characters) and signed nothing useful.
BAD_SECRETS = {
    "not-base64": "whsec_" + "A" * 33,  # the sender raised binascii.Error on every attempt
    "excess-padding": "whsec_AAA=" + "=" * 28,  # decoded, leniently, to a 2-byte key
    "too-short": _secret(23),
    "too-long": _secret(65),
}


def _reasons(answer: httpx.Response, field: str) -> list[str]:
    assert answer.status_code == 422, answer.text
    return [str(e["message"]) for e in answer.json()["errors"] if e["field"] == field]


@pytest.mark.parametrize("kind", sorted(BAD_SECRETS))
async def test_a_secret_that_is_not_24_to_64_bytes_of_base64_is_refused_at_creation_and_rotation(
    pool: asyncpg.Pool, unique: str, kind: str
) -> None:
    partner, bad = f"p-{unique}", BAD_SECRETS[kind]
    async with api_client(pool) as http:
        base = f"/v1/partners/{partner}/endpoints"
        refused = await http.post(base, json={"url": "http://127.0.0.1:9/h", "secret": bad})
        [reason] = _reasons(refused, "secret")
        assert "base64" in reason or "bytes" in reason, reason
        good = _secret(24)
        made = await http.post(base, json={"url": "http://127.0.0.1:9/h", "secret": good})
        assert made.status_code == 201 and made.json()["secret"] == good
        endpoint_id = made.json()["endpoint_id"]
        not_rotated = await http.post(f"{base}/{endpoint_id}/rotate", json={"secret": bad})
        assert _reasons(not_rotated, "secret") == [reason]
        stored = await pool.fetchval(
            "SELECT secret FROM notifier.endpoints WHERE endpoint_id = $1",
            made.json()["endpoint_id"],
        )
        assert stored == good  # the refused rotation changed nothing
        rotated = await http.post(f"{base}/{endpoint_id}/rotate", json={"secret": _secret(64)})
        assert rotated.status_code == 200


async def _create_at_once(
    http: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]]
) -> list[httpx.Response]:
    return list(await asyncio.gather(*(http.post(path, json=b) for b in bodies)))


async def test_concurrent_endpoint_creations_never_exceed_the_partners_quota(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    path = f"/v1/partners/{partner}/endpoints"
    async with api_client(pool, domain.Quotas(endpoints=3, contacts=20)) as http:
        answers = await _create_at_once(
            http, path, [{"url": f"http://127.0.0.1:9/h{n}"} for n in range(8)]
        )
        assert sorted(a.status_code for a in answers) == [201] * 3 + [422] * 5
        refusals = [r for a in answers if a.status_code == 422 for r in a.json()["errors"]]
        assert {(r["field"], r["code"]) for r in refusals} == {("partner_id", "quota_exceeded")}
        assert "3 endpoints" in refusals[0]["message"]
        # A deleted endpoint frees its place; a disabled one keeps it (it can be re-enabled).
        made = [a.json()["endpoint_id"] for a in answers if a.status_code == 201]
        await http.patch(f"{path}/{made[0]}", json={"enabled": False})
        assert (await http.post(path, json={"url": "http://127.0.0.1:9/x"})).status_code == 422
        assert (await http.delete(f"{path}/{made[1]}")).status_code == 204
        assert (await http.post(path, json={"url": "http://127.0.0.1:9/y"})).status_code == 201
    count = await pool.fetchval(
        "SELECT count(*) FROM notifier.endpoints WHERE partner_id = $1 AND NOT deleted", partner
    )
    assert count == 3


async def test_concurrent_contact_creations_never_exceed_the_partners_quota(
    pool: asyncpg.Pool, unique: str
) -> None:
    partner = f"p-{unique}"
    path = f"/v1/partners/{partner}/contacts"
    async with api_client(pool, domain.Quotas(endpoints=10, contacts=4)) as http:
        answers = await _create_at_once(
            http, path, [{"email": f"c{n}-{unique}@example.org"} for n in range(9)]
        )
        assert sorted(a.status_code for a in answers) == [201] * 4 + [422] * 5
        refusals = [r for a in answers if a.status_code == 422 for r in a.json()["errors"]]
        assert {(r["field"], r["code"]) for r in refusals} == {("partner_id", "quota_exceeded")}
        assert "4 contacts" in refusals[0]["message"]
        first = next(a.json()["contact_id"] for a in answers if a.status_code == 201)
        assert (await http.delete(f"{path}/{first}")).status_code == 204
        again = await http.post(path, json={"email": f"again-{unique}@example.org"})
        assert again.status_code == 201
    count = await pool.fetchval(
        "SELECT count(*) FROM notifier.contacts WHERE partner_id = $1 AND enabled", partner
    )
    assert count == 4


async def test_quotas_come_from_the_environment_with_sane_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert (NotifierSettings().notifier_max_endpoints_per_partner,
            NotifierSettings().notifier_max_contacts_per_partner) == (10, 20)  # fmt: skip
    monkeypatch.setenv("STAX_NOTIFIER_MAX_ENDPOINTS_PER_PARTNER", "3")
    monkeypatch.setenv("STAX_NOTIFIER_MAX_CONTACTS_PER_PARTNER", "5")
    settings = NotifierSettings()
    assert (
        settings.notifier_max_endpoints_per_partner,
        settings.notifier_max_contacts_per_partner,
    ) == (3, 5)


async def test_a_contact_address_that_could_smuggle_a_header_is_refused(
    pool: asyncpg.Pool, unique: str
) -> None:
    async with api_client(pool) as http:
        answer = await http.post(
            f"/v1/partners/p-{unique}/contacts",
            json={"email": f"=?utf-8?q?evil=40evil.example?=-{unique}@example.org"},
        )
    [reason] = _reasons(answer, "email")
    assert "encoded word" in reason


async def test_a_partner_filter_that_is_no_partner_id_is_refused_not_sent_to_the_database(
    pool: asyncpg.Pool,
) -> None:
    # Found by schemathesis: a NUL in ?partner_id= reached PostgreSQL, which refused it (500).
    async with api_client(pool) as http:
        for hostile in ("\x00", "a\x00b", "x" * 100, "UPPER", "../etc"):
            answer = await http.get("/v1/deliveries", params={"partner_id": hostile})
            assert answer.status_code == 422, (hostile, answer.text)
        assert (await http.get("/v1/deliveries", params={"partner_id": "unido"})).status_code == 200
