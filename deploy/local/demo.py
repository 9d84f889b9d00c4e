"""`stax demo`: the whole flow on one screen — a request in, an offer out, a signed webhook in."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from deploy.local.receiver import Received, WebhookReceiver
from deploy.local.stack import StackSettings, down, up
from shared import topics

DEMO_PARTNER = "secretariat"  # the walking skeleton's matcher offers every request to it
WATCHED = (topics.REQUESTS, topics.ASSIGNMENTS, topics.NOTIFICATIONS, topics.DEADLETTER)


def sample_request() -> dict[str, Any]:
    return {
        "external_ref": f"demo-{int(time.time())}",
        "party": "SEN",
        "title": "PCB inventory and phase-out plan for the national grid operator",
        "description": "Senegal asks for help to finish its PCB inventory of transformers and "
        "plan their environmentally sound management before 2028.",
        "topics": ["PCB"],
        "assistance_types": ["training", "expert_advice"],
        "languages": ["fr"],
        "urgency": "routine",
        "needed_by": (date.today() + timedelta(days=90)).isoformat(),
        "contact": {
            "name": "Awa Ndiaye",
            "email": "awa.ndiaye@example.sn",
            "organisation": "Ministère de l'Environnement",
        },
    }


def _say(who: str, text: str) -> None:
    print(f"{datetime.now(UTC):%H:%M:%S}  {who:<10} {text}", flush=True)


def _on_webhook(item: Received) -> None:
    if not item.verified:
        _say("webhook", f"REFUSED id={item.webhook_id}: {item.error}")
        return
    body = item.body or {}
    _say("webhook", f"{body.get('type')} id={item.webhook_id} signature verified ✓")


async def _tail(cfg: StackSettings, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        *WATCHED,
        bootstrap_servers=cfg.bootstrap,
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.seek_to_end()
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=500)
            for record in (r for records in batch.values() for r in records):
                headers = {k: (v or b"").decode(errors="replace") for k, v in record.headers}
                _say(
                    "kafka",
                    f"{record.topic:<22} {headers.get('ce_type', '?'):<26} "
                    f"{_summary(record.value)}",
                )
    finally:
        await consumer.stop()


def _summary(value: bytes | None) -> str:
    try:
        data = json.loads(value or b"{}")
    except ValueError:
        return "(not JSON)"
    keys = ("request_id", "party", "partner_id", "role", "score", "channel", "attempts")
    return " ".join(f"{k}={data[k]}" for k in keys if k in data)


async def _register(
    client: httpx.AsyncClient, cfg: StackSettings, receiver: WebhookReceiver
) -> None:
    base = f"http://127.0.0.1:{cfg.notifier_port}/v1/partners/{DEMO_PARTNER}/endpoints"
    secret_file = cfg.home / "demo-webhook-secret"
    listed = (await client.get(base)).json()
    if secret_file.exists() and any(e["url"] == receiver.url for e in listed):
        receiver.secrets.append(secret_file.read_text().strip())
        _say("demo", f"webhook endpoint for {DEMO_PARTNER} already registered: {receiver.url}")
        return
    made = (await client.post(base, json={"url": receiver.url})).raise_for_status().json()
    secret_file.write_text(made["secret"])
    receiver.secrets.append(made["secret"])
    _say("demo", f"registered webhook endpoint {receiver.url} for partner {DEMO_PARTNER}")


async def _flow(cfg: StackSettings, receiver: WebhookReceiver) -> None:
    stop = asyncio.Event()
    tail = asyncio.create_task(_tail(cfg, stop))
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            await _register(client, cfg, receiver)
            await asyncio.sleep(1.0)  # let the tail join its partitions before anything happens
            answer = await client.post(
                f"http://127.0.0.1:{cfg.intake_port}/v1/requests", json=sample_request()
            )
            _say("http", f"POST /v1/requests → {answer.status_code} {answer.text}")
        _say("demo", "watching the flow; press Ctrl-C to stop everything")
        await asyncio.Event().wait()
    finally:
        stop.set()
        await tail


def run_demo(cfg: StackSettings, *, receiver_port: int, keep: bool) -> None:
    up(cfg, wait=True)
    receiver = WebhookReceiver(port=receiver_port, on_receive=_on_webhook).start()
    try:
        asyncio.run(_flow(cfg, receiver))
    except KeyboardInterrupt:
        print()
    finally:
        receiver.stop()
        if not keep:
            down(cfg)
