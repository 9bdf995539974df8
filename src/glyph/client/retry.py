"""The retry policy: what is tried again, and how long to wait (tenacity does the looping).

Retried: 429 and 5xx answers, and connections that could not be made or broke before an
answer. Not retried: 4xx (the request is wrong and will stay wrong) and read timeouts (a
generation that did not finish in ``timeout`` seconds will not finish faster the second
time; retrying would multiply the caller's wait). The wait is the server's ``Retry-After``
when it sends one (capped at ``backoff_max``), else exponential backoff with jitter.
"""

from __future__ import annotations

from typing import Any

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential, wait_random
from tenacity.wait import wait_base

from glyph.client.errors import UpstreamConnectionError, UpstreamHTTPError
from glyph.client.settings import HttpSettings


def is_retryable(exc: BaseException) -> bool:
    """Whether a failed attempt should be tried again (see the module docstring)."""
    if isinstance(exc, UpstreamHTTPError):
        return exc.retryable
    return isinstance(exc, UpstreamConnectionError)


class WaitRetryAfter(wait_base):
    """Honour a 429/503 ``Retry-After`` (seconds, capped) when the server sends one, else back off."""

    def __init__(self, fallback: wait_base, cap: float) -> None:
        self.fallback = fallback
        self.cap = cap

    def __call__(self, retry_state: Any) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        after = getattr(exc, "retry_after", None)
        if after is not None:
            return min(float(after), self.cap)
        return float(self.fallback(retry_state))


def retrying(settings: HttpSettings) -> AsyncRetrying:
    """A fresh tenacity loop for one call under ``settings`` (initial, 2x, 4x ... up to the max)."""
    return AsyncRetrying(
        stop=stop_after_attempt(settings.max_retries + 1),
        wait=WaitRetryAfter(
            wait_exponential(multiplier=settings.backoff_initial, max=settings.backoff_max)
            + wait_random(0, settings.backoff_initial),
            settings.backoff_max,
        ),
        retry=retry_if_exception(is_retryable),
        reraise=True,
    )
