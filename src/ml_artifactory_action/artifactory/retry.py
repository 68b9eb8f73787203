"""The one retry policy of the action: transient failures only, capped by attempts and time.

Transient means: a timeout or connection error (not an untrusted certificate), or an answer of 408,
429 or 5xx. `Retry-After` is honoured (up to MAX_RETRY_AFTER). Bodies are rebuilt before every
attempt by the caller, so a file is re-read from its start. Retries are logged through the hook the
caller passes.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import stamina

TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A server certificate the runner does not trust will not become trusted by asking again.
CERTIFICATE_FAILURE = "CERTIFICATE_VERIFY_FAILED"
MAX_RETRY_AFTER = 120.0  # seconds; a server asking for longer is treated as down


class TransientHTTPError(Exception):
    """An answer worth retrying; carries the response for the final error if retries run out."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    total_seconds: float = 300.0
    wait_initial: float = 0.5
    wait_max: float = 15.0


def is_transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUSES or 500 <= status < 600


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Seconds from a `Retry-After` header (delta or HTTP date), capped; None when absent."""
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return None
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    delta = (when - dt.datetime.now(dt.UTC)).total_seconds()
    return min(max(delta, 0.0), MAX_RETRY_AFTER)


def backoff_hook(on_retry: Callable[[BaseException], None]) -> Callable[[Exception], bool | float]:
    """stamina's `on` hook: retry transient failures, waiting what Retry-After asks for."""

    def hook(exc: Exception) -> bool | float:
        if isinstance(exc, TransientHTTPError):
            on_retry(exc)
            wait = retry_after_seconds(exc.response)
            return True if wait is None else wait
        if isinstance(exc, httpx.TransportError) and CERTIFICATE_FAILURE not in str(exc):
            on_retry(exc)
            return True
        return False

    return hook


def attempts(policy: RetryPolicy, on_retry: Callable[[BaseException], None]) -> Iterator[stamina.Attempt]:
    """stamina's attempts; `on_retry` hears of a failure only when another attempt follows it (the
    hook also sees the last one, after which nothing is retried: that is the caller's error)."""
    failures: list[BaseException] = []
    for attempt in stamina.retry_context(
        on=backoff_hook(failures.append),
        attempts=policy.attempts,
        timeout=policy.total_seconds,
        wait_initial=policy.wait_initial,
        wait_max=policy.wait_max,
    ):
        if failures:
            on_retry(failures.pop())
        yield attempt
