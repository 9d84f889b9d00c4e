"""The pure rules: who hears what, the schedule, answers, rotation, SSRF addresses, templates."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from services.notifier import domain
from services.notifier.adapters import ssrf_rules
from services.notifier.domain import AttemptResult, Partner, Requester, RetryPolicy

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_who_hears_what() -> None:
    rid = uuid4()
    data = {"request_id": str(rid), "partner_id": "unido"}
    assert domain.audience("ta.assignment.offered", data) == [Partner("unido")]
    assert domain.audience("ta.assignment.accepted", data) == [Requester(rid), Partner("unido")]
    assert domain.audience("ta.request.accepted", {"request_id": str(rid)}) == [Requester(rid)]
    assert domain.audience("ta.request.matched", {"request_id": str(rid)}) == [Requester(rid)]
    assert domain.audience("ta.request.unmatched", {"request_id": str(rid)}) == [
        Requester(rid),
        Partner("secretariat"),
    ]
    assert domain.audience("ta.request.rejected", {"external_ref": "x"}) == []


def test_who_hears_of_the_work_after_an_acceptance() -> None:
    rid = uuid4()
    work = {"assignment_id": str(uuid4()), "request_id": str(rid), "partner_id": "unido"}
    request = {"request_id": str(rid), "partners": ["unido"]}
    party, partner, secretariat = Requester(rid), Partner("unido"), Partner("secretariat")
    assert domain.audience("ta.assignment.started", work) == [party, partner]
    assert domain.audience("ta.assignment.completed", work) == [party, partner]
    assert domain.audience("ta.assignment.withdrawn", work) == [party, partner, secretariat]
    assert domain.audience("ta.request.waiting", request) == [party, secretariat]
    # Partners named in `partners` are not told of the request's end: only its own people are.
    assert domain.audience("ta.request.completed", request) == [party]
    assert domain.audience("ta.request.closed", {"request_id": str(rid)}) == [party, secretariat]
    # intake's command to matcher, on the same topic: nobody is told of it.
    assert domain.audience("ta.request.closing", {"request_id": str(rid)}) == []


def test_subscriptions_may_filter_on_the_lifecycle_but_not_on_the_closing_command() -> None:
    lifecycle = {
        "ta.assignment.started",
        "ta.assignment.completed",
        "ta.assignment.withdrawn",
        "ta.request.waiting",
        "ta.request.completed",
        "ta.request.closed",
    }
    assert lifecycle <= domain.EVENT_TYPES
    assert "ta.request.closing" not in domain.EVENT_TYPES


def test_a_timeout_or_429_waits_at_least_the_overload_penalty() -> None:
    policy = RetryPolicy([0, 5, 300], overload_penalty=60)
    for result in (AttemptResult(ok=False, overloaded=True), domain.classify_http(429, None)):
        at = domain.next_attempt(policy, 1, NOW, result)
        assert at is not None and at - NOW >= timedelta(seconds=60)


def test_retry_after_is_capped_and_permanent_failures_are_not_retried() -> None:
    policy = RetryPolicy([0, 5], max_retry_after=600)
    at = domain.next_attempt(policy, 1, NOW, AttemptResult(ok=False, retry_after=10**9))
    assert at is not None and at - NOW == timedelta(seconds=600)
    assert domain.next_attempt(policy, 1, NOW, domain.classify_http(410, None)) is None
    assert domain.next_attempt(policy, 1, NOW, domain.classify_smtp(550, "no")) is None
    assert domain.next_attempt(policy, 1, NOW, domain.classify_smtp(451, "later")) is not None


@pytest.mark.parametrize(
    ("status", "ok", "gone"), [(200, True, False), (299, True, False), (301, False, False),
                               (404, False, False), (410, False, True), (500, False, False)]
)  # fmt: skip
def test_only_2xx_succeeds_and_410_disables(status: int, ok: bool, gone: bool) -> None:
    result = domain.classify_http(status, None)
    assert (result.ok, result.disable_endpoint, result.permanent) == (ok, gone, gone)


def test_both_secrets_sign_only_during_the_overlap() -> None:
    later = NOW + timedelta(hours=1)
    assert domain.signing_secrets("new", "old", later, NOW) == ["new", "old"]
    assert domain.signing_secrets("new", "old", NOW, NOW) == ["new"]
    assert domain.signing_secrets("new", None, None, NOW) == ["new"]


def test_an_endpoint_is_disabled_after_n_days_of_failures_only() -> None:
    assert domain.failing_too_long(NOW - timedelta(days=5), NOW, 5)
    assert not domain.failing_too_long(NOW - timedelta(days=4), NOW, 5)
    assert not domain.failing_too_long(None, NOW, 5)


def test_templates_fall_back_to_english_then_to_the_generic_one() -> None:
    have = frozenset(
        f"{n}.{lang}.{kind}.j2"
        for n, lang in [("x", "fr"), ("x", "en"), ("_default", "en"), ("_default", "es")]
        for kind in ("txt", "html")
    )
    assert domain.template_base("x", "fr", have) == "x.fr"
    assert domain.template_base("x", "ar", have) == "x.en"
    assert domain.template_base("y", "es", have) == "_default.es"
    assert domain.template_base("y", "zh", have) == "_default.en"
    assert domain.pick_language(["zz", "fr", "en"]) == "fr"
    assert domain.pick_language([]) == "en"


@pytest.mark.parametrize(
    "host", ["2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001", "017700000001"]
)
def test_odd_ipv4_spellings_decode_to_loopback(host: str) -> None:
    assert ssrf_rules.literal_address(host) == ipaddress.IPv4Address("127.0.0.1")


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
     "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fc00::1", "fe80::1",
     "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::a00:1",
     "2002:c0a8:101::", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:db8::1", "fec0::1"],
)  # fmt: skip
def test_addresses_that_are_not_globally_routable_are_refused(address: str) -> None:
    assert ssrf_rules.refusal(ipaddress.ip_address(address), []) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_global_unicast_addresses_pass(address: str) -> None:
    assert ssrf_rules.refusal(ipaddress.ip_address(address), []) is None


def test_the_allow_list_admits_its_subnet_and_the_mapped_form_of_it() -> None:
    allow = ssrf_rules.parse_allow_list(["127.0.0.1/32"])
    assert ssrf_rules.refusal(ipaddress.ip_address("127.0.0.1"), allow) is None
    assert ssrf_rules.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allow) is None
    assert ssrf_rules.refusal(ipaddress.ip_address("127.0.0.2"), allow) is not None


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("plain title", "plain title"),
        ("a\r\nReply-To: x@evil.example", "a Reply-To: x@evil.example"),
        ("a\u2028b\u2029c\x85d\x0be\x0cf\x1cg\x00h\x1bi", "a b c d e f g h i"),
        ("=?utf-8?q?a=0D=0AX:_y?=", "= ?utf-8?q?a=0D=0AX:_y?="),
        ("==?x", "== ?x"),
        ("=\r\n?x", "= ?x"),  # a removed line break cannot glue `=` and `?` together
        ("lone \udc80 surrogate", "lone surrogate"),
        ("  spaced\t\tout  ", "spaced out"),
        ("مرحبا\u200cبالعالم", "مرحبا\u200cبالعالم"),  # joiners belong to scripts: kept
    ],
)
def test_header_text_is_one_line_without_encoded_words(value: str, line: str) -> None:
    assert domain.header_text(value) == line


def test_header_text_is_bounded_with_an_ellipsis() -> None:
    cut = domain.header_text("word " * 100)
    assert len(cut) == domain.MAX_HEADER_TEXT and cut.endswith("word…")
    assert domain.header_text("x" * domain.MAX_HEADER_TEXT) == "x" * domain.MAX_HEADER_TEXT


@pytest.mark.parametrize(
    "address",
    [
        "=?utf-8?q?evil=40evil.example?=@example.org",  # email-validator lets this through
        "a@example.org\r\nBcc: x@evil.example",
        "a@example.org\u2028",
        "a b@example.org",
    ],
)
def test_an_address_that_could_smuggle_a_header_is_refused(address: str) -> None:
    assert domain.unsafe_address(address) is not None


def test_ordinary_and_international_addresses_are_fine() -> None:
    for address in ("ops@example.org", "first.last+tag@sub.example.sn", "δοκιμή@παράδειγμα.gr"):
        assert domain.unsafe_address(address) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("²", None),  # str.isdigit() says yes, float() says no
        ("١٢", None),  # Arabic-Indic digits: float() reads them, HTTP does not
        ("-5", None),
        ("1.5", None),
        ("", None),
        ("soon", None),
        ("Thu, 01 Jan 2026 00:02:00 GMT", 120.0),
        ("Thu, 01 Jan 2026 00:02:00 -0000", 120.0),  # parsed as a naive datetime
        ("Wed, 31 Dec 2025 00:00:00 GMT", 0.0),  # in the past: no wait
        ("Thu, 01 Jan 99999 00:00:00 GMT", None),
    ],
)
def test_retry_after_is_ascii_seconds_or_an_http_date_and_nothing_else(
    value: str, seconds: float | None
) -> None:
    assert domain.retry_after_seconds(value, NOW) == seconds


def test_a_huge_retry_after_is_read_and_left_to_the_cap() -> None:
    huge = domain.retry_after_seconds("9" * 400, NOW)
    assert huge is not None and huge > 1e300
    at = domain.next_attempt(RetryPolicy([0, 5]), 1, NOW, AttemptResult(ok=False, retry_after=huge))
    assert at is not None and at - NOW == timedelta(seconds=86_400)
