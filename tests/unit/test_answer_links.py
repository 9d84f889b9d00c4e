"""Signed answer links: what is signed verifies until respond_by, anything else is a BadLink."""

from __future__ import annotations

import contextlib
import string
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.answer_links import (
    MAX_TOKEN_LENGTH,
    AnswerLink,
    BadLink,
    ExpiredLink,
    digest,
    sign,
    verify,
)

SECRET = "s3cret-for-tests"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _link(decision: str = "accept", expires_at: datetime = NOW + timedelta(days=5)) -> AnswerLink:
    assert decision in ("accept", "decline")
    return AnswerLink(uuid4(), "centre-kenya", decision, expires_at)  # type: ignore[arg-type]


def test_a_signed_link_verifies_to_itself() -> None:
    for decision in ("accept", "decline"):
        link = _link(decision)
        assert verify(sign(link, SECRET), SECRET, NOW) == link


def test_a_link_is_url_safe_and_short() -> None:
    token = sign(_link(), SECRET)
    assert len(token) < 300
    assert all(c.isalnum() or c in "-_." for c in token)


def test_a_link_verifies_until_respond_by_and_expires_after() -> None:
    link = _link(expires_at=NOW)
    token = sign(link, SECRET)
    assert verify(token, SECRET, NOW) == link
    with pytest.raises(ExpiredLink):
        verify(token, SECRET, NOW + timedelta(microseconds=1))


def test_a_link_signed_with_another_secret_is_bad() -> None:
    with pytest.raises(BadLink):
        verify(sign(_link(), "another secret"), SECRET, NOW)


def test_no_secret_signs_nothing_and_verifies_nothing() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign(_link(), "")
    with pytest.raises(BadLink):
        verify(sign(_link(), SECRET), "", NOW)


URLSAFE = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def tampered(char: str) -> str:
    """Another character whose top bit differs. Not any other character: the last character of
    a base64 run carries unused low bits, so "B" there decodes like "A" (the same bytes, the same
    valid signature); the top bit always counts."""
    index = URLSAFE.find(char)
    return "A" if index < 0 else URLSAFE[index ^ 0b100000]


def test_every_tampered_character_makes_a_bad_link() -> None:
    token = sign(_link(), SECRET)
    for i, char in enumerate(token):
        with pytest.raises(BadLink):
            verify(token[:i] + tampered(char) + token[i + 1 :], SECRET, NOW)


def test_a_truncated_or_oversized_token_is_bad() -> None:
    token = sign(_link(), SECRET)
    with pytest.raises(BadLink):
        verify(token[:-1], SECRET, NOW)
    with pytest.raises(BadLink):
        verify(token + "x" * MAX_TOKEN_LENGTH, SECRET, NOW)


def test_a_naive_expiry_is_refused_when_signing() -> None:
    with pytest.raises(ValueError, match="timezone"):
        sign(_link(expires_at=datetime(2027, 1, 1)), SECRET)


def test_the_decision_is_part_of_what_is_signed() -> None:
    accept = sign(_link("accept"), SECRET)
    decline = sign(_link("decline"), SECRET)
    assert accept != decline
    assert verify(accept, SECRET, NOW).decision == "accept"


def test_digest_is_stable_and_does_not_reveal_the_token() -> None:
    token = sign(_link(), SECRET)
    assert digest(token) == digest(token)
    assert len(digest(token)) == 64
    assert token not in digest(token)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=1500) | st.binary(max_size=1500).map(lambda b: b.hex()))
def test_verifying_anything_gives_a_link_or_a_link_error(token: str) -> None:
    try:
        link = verify(token, SECRET, NOW)
    except (BadLink, ExpiredLink):
        return
    assert isinstance(link, AnswerLink)  # only a token we signed could get here


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["accept", "decline"]),
    st.text(min_size=1, max_size=60),
    st.datetimes(timezones=st.just(UTC)),
    st.integers(min_value=0, max_value=300),
    st.text(alphabet="ABCxyz019-_.", min_size=1, max_size=3),
)
def test_signed_links_round_trip_and_any_edit_is_caught(
    decision: str, partner: str, expires_at: datetime, where: int, insert: str
) -> None:
    link = AnswerLink(uuid4(), partner, decision, expires_at)  # type: ignore[arg-type]
    token = sign(link, SECRET)
    assert verify(token, SECRET, min(NOW, expires_at)) == link
    edited = token[:where] + insert + token[where:]
    with contextlib.suppress(BadLink):  # an edit may still verify (base64's padding slack)…
        assert verify(edited, SECRET, min(NOW, expires_at)) == link  # …then to the same link
