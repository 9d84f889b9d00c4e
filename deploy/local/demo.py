"""`stax-local demo`: the whole flow on one screen.

A Party's request goes in over HTTP; matcher offers it to the best partners; notifier delivers
signed webhooks to a local receiver standing in for every partner; the demo then answers each
offer as that partner would (accept, with the partner's own API key) and the request ends matched.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiosmtpd.controller import Controller

from deploy.local.receiver import Received, WebhookReceiver
from deploy.local.stack import StackSettings, down, service_env, up
from deploy.operations import keys
from shared import topics
from shared.auth import Role
from shared.events import AssignmentOffered

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


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Demo:
    def __init__(self, cfg: StackSettings, receiver: WebhookReceiver) -> None:
        self.cfg = cfg
        self.receiver = receiver
        self.offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.loop = asyncio.get_running_loop()
        receiver.on_receive = self._on_webhook

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.cfg.port_of(service)}{path}"

    def _on_webhook(self, item: Received) -> None:  # runs in the receiver's thread
        if not item.verified or item.body is None:
            _say("webhook", f"REFUSED id={item.webhook_id}: {item.error}")
            return
        data = item.body["data"]
        _say(
            "webhook",
            f"{item.body['type']} → {data.get('partner_id')} "
            f"id={item.webhook_id[:8]}… signature verified ✓",
        )
        if item.body["type"] == AssignmentOffered.ce_type:
            self.loop.call_soon_threadsafe(self.offers.put_nowait, data)

    async def key(self, role: Role, name: str, partner: str | None = None) -> str:
        _principal, key = await keys.create(self.cfg.db_url, role, name, partner)
        return key

    async def subscribe_partners(self, http: httpx.AsyncClient, operator: str) -> None:
        """Register the receiver as every active partner's webhook endpoint (once per STAX_HOME)."""
        saved = self.cfg.home / "demo-webhooks.json"
        secrets: dict[str, str] = json.loads(saved.read_text()) if saved.exists() else {}
        listed = await http.get(
            self.url("matcher", "/v1/partners?active=true"), headers=_bearer(operator)
        )
        partners = [p["partner_id"] for p in listed.raise_for_status().json()["partners"]]
        for partner in (p for p in partners if p not in secrets):
            made = await http.post(
                self.url("notifier", f"/v1/partners/{partner}/endpoints"),
                json={"url": self.receiver.url},
                headers=_bearer(operator),
            )
            secrets[partner] = made.raise_for_status().json()["secret"]
        saved.write_text(json.dumps(secrets))
        self.receiver.secrets.extend(secrets.values())
        _say("demo", f"receiver {self.receiver.url} subscribed for {len(partners)} partners")

    async def answer_offers(self, http: httpx.AsyncClient) -> None:
        """Act as each offered partner: accept with that partner's own key."""
        while True:
            offer = await self.offers.get()
            partner = offer["partner_id"]
            await asyncio.sleep(1.0)  # a person reads the offer first
            key = await self.key("partner", f"demo-{partner}", partner)
            url = self.url("intake", f"/v1/assignments/{offer['assignment_id']}/accept")
            for _ in range(20):  # intake learns of the offer from Kafka, moments later
                answer = await http.post(url, json={"reason": "we can help"}, headers=_bearer(key))
                if answer.status_code != 404:
                    break
                await asyncio.sleep(0.5)
            _say("http", f"{partner} accepts its {offer['role']} offer → {answer.status_code}")


async def _tail(cfg: StackSettings, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        *WATCHED,
        **cfg.kafka_access().aiokafka(),
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
    shown = ("party", "partner_id", "role", "score", "partners", "channel")
    return " ".join(f"{k}={data[k]}" for k in shown if k in data)


async def _flow(cfg: StackSettings, receiver: WebhookReceiver) -> None:
    demo = Demo(cfg, receiver)
    stop = asyncio.Event()
    tail = asyncio.create_task(_tail(cfg, stop))
    async with httpx.AsyncClient(timeout=10) as http:
        answering = asyncio.create_task(demo.answer_offers(http))
        try:
            operator = await demo.key("operator", "demo-operator")
            submitter = await demo.key("submitter", "demo-national-portal")
            await demo.subscribe_partners(http, operator)
            await asyncio.sleep(1.0)  # let the tail join its partitions first
            answer = await http.post(
                demo.url("intake", "/v1/requests"),
                json=sample_request(),
                headers=_bearer(submitter),
            )
            _say("http", f"POST /v1/requests → {answer.status_code} {answer.text}")
            # A local demo's own key, shown so the person running it can open the console.
            _say("console", f"{demo.url('intake', '/console/')} — sign in with {operator}")
            _say("demo", "watching the flow; press Ctrl-C to stop everything")
            await asyncio.Event().wait()
        finally:
            answering.cancel()
            stop.set()
            await tail


class MailSink:
    """aiosmtpd handler: prints each e-mail notifier sends (the local stack's SMTP server)."""

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = [p.get_content_type() for p in message.walk() if not p.is_multipart()]
        _say(
            "e-mail",
            f"to {', '.join(envelope.rcpt_tos)}: {message['Subject']} ({' + '.join(parts)})",
        )
        return "250 OK"


def run_demo(cfg: StackSettings, *, receiver_port: int, keep: bool) -> None:
    # The sink listens where the notifier the stack starts sends (its STAX_NOTIFIER_SMTP_PORT).
    smtp_port = int(service_env(cfg, "notifier")["STAX_NOTIFIER_SMTP_PORT"])
    mail = Controller(MailSink(), hostname="127.0.0.1", port=smtp_port)
    mail.start()
    up(cfg, wait=True)
    receiver = WebhookReceiver(port=receiver_port).start()
    try:
        asyncio.run(_flow(cfg, receiver))
    except KeyboardInterrupt:
        print()
    finally:
        receiver.stop()
        mail.stop()
        if not keep:
            down(cfg)
