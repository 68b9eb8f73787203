"""The retry policy's pieces: which failures are transient, and how long Retry-After asks to wait."""

from __future__ import annotations

import datetime as dt
import email.utils

import httpx
import pytest

from ml_artifactory_action.artifactory.retry import (
    MAX_RETRY_AFTER,
    TransientHTTPError,
    backoff_hook,
    is_transient_status,
    retry_after_seconds,
)


def response(status: int = 503, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers, request=httpx.Request("GET", "https://x/"))


@pytest.mark.parametrize(
    ("status", "transient"),
    [(408, True), (429, True), (500, True), (599, True), (400, False), (404, False), (409, False)],
)
def test_transient_statuses(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds(response(**{"Retry-After": "7"})) == 7.0


def test_retry_after_is_capped() -> None:
    assert retry_after_seconds(response(**{"Retry-After": "86400"})) == MAX_RETRY_AFTER


def test_retry_after_as_an_http_date() -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    seconds = retry_after_seconds(response(**{"Retry-After": email.utils.format_datetime(when, usegmt=True)}))
    assert seconds is not None
    assert 28 <= seconds <= 30


def test_retry_after_in_the_past_waits_nothing() -> None:
    assert retry_after_seconds(response(**{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) == 0.0


@pytest.mark.parametrize("value", ["", "soon", "-5"])
def test_retry_after_absent_or_unreadable(value: str) -> None:
    assert retry_after_seconds(response(**{"Retry-After": value})) is None


def test_the_hook_retries_transient_answers_waiting_what_the_server_asks() -> None:
    seen: list[BaseException] = []
    hook = backoff_hook(seen.append)
    assert hook(TransientHTTPError(response(429, **{"Retry-After": "3"}))) == 3.0
    assert hook(TransientHTTPError(response(503))) is True
    assert hook(httpx.ReadTimeout("slow")) is True
    assert len(seen) == 3


def test_the_hook_does_not_retry_anything_else() -> None:
    seen: list[BaseException] = []
    hook = backoff_hook(seen.append)
    assert hook(ValueError("bug")) is False
    assert hook(OSError("disk")) is False
    assert seen == []
