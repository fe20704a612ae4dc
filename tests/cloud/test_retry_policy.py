"""The one retry loop: bounded exponential back-off with jitter, Retry-After, retry=False."""

from __future__ import annotations

import pytest

from ims_portal.cloud.errors import NotFound, ServerError, Throttled, Timeout
from ims_portal.cloud.transport import RetryPolicy, call


class Script:
    """An attempt that raises the scripted errors in turn, then returns "done"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def run(attempt: Script, *, retry: bool = True, **policy: float) -> tuple[str, list[float]]:
    waits: list[float] = []
    result = call(attempt, retry=retry, policy=RetryPolicy(**policy), sleep=waits.append)
    return result, waits


def test_retryable_errors_are_retried_with_growing_jittered_waits():
    attempt = Script(ServerError("a"), Timeout("b"), ServerError("c"))
    result, waits = run(attempt, retries=3, backoff=1.0, max_backoff=100)

    assert result == "done"
    assert attempt.calls == 4
    for wait, ceiling in zip(waits, (1.0, 2.0, 4.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling


def test_back_off_is_capped():
    attempt = Script(*(ServerError(str(i)) for i in range(6)))
    _, waits = run(attempt, retries=6, backoff=1.0, max_backoff=3.0)
    assert max(waits) <= 3.0


def test_the_budget_runs_out():
    attempt = Script(*(ServerError(str(i)) for i in range(5)))
    with pytest.raises(ServerError, match="2"):
        run(attempt, retries=2, backoff=0.0)
    assert attempt.calls == 3


def test_final_errors_are_not_retried():
    attempt = Script(NotFound("gone"))
    with pytest.raises(NotFound):
        run(attempt, retries=5)
    assert attempt.calls == 1


def test_retry_false_never_repeats():
    attempt = Script(ServerError("503"))
    with pytest.raises(ServerError):
        run(attempt, retry=False, retries=5)
    assert attempt.calls == 1


def test_retry_after_is_honoured_with_a_little_jitter_above_it():
    attempt = Script(Throttled("slow", retry_after=2.0))
    _, waits = run(attempt, retries=3, backoff=0.01)
    assert 2.0 <= waits[0] <= 2.2


def test_a_retry_after_beyond_the_bound_is_given_back_to_the_caller():
    attempt = Script(Throttled("slow", retry_after=600.0))
    with pytest.raises(Throttled):
        run(attempt, retries=3, max_retry_after=30.0)
    assert attempt.calls == 1


def test_throttling_without_retry_after_backs_off_normally():
    attempt = Script(Throttled("slow"))
    _, waits = run(attempt, retries=1, backoff=0.5)
    assert 0.25 <= waits[0] <= 0.5
