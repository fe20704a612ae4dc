"""The time-left estimator, as pure functions: samples in, the figure a page shows out."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ims_portal.exports import eta


def polls(rate: float, every: float, count: int, start: float = 0.0) -> list[eta.Sample]:
    """Readings of a job moving at `rate` (fraction per second), one every `every` s."""
    return [(start + i * every, min(rate * i * every, 0.99)) for i in range(count)]


def shown_along(samples, *, expected_total=None, submitted=0.0):
    """What the page would show after each poll, fed the samples one by one."""
    shown, seen = None, []
    for end in range(1, len(samples) + 1):
        now = samples[end - 1][0]
        shown = eta.next_shown(
            shown, samples[:end], now=now, spent=now - submitted, expected_total=expected_total
        )
        seen.append(shown)
    return seen


def test_a_steady_rate_gives_the_exact_time_left():
    samples = polls(rate=0.01, every=5, count=6)  # 1% a second, 25% after 25 s
    left, moved = eta.observed(samples, now=25)
    assert left == pytest.approx(75) and moved == pytest.approx(0.25)
    assert shown_along(samples)[-1].left(25) == pytest.approx(75)


def test_a_job_waiting_to_be_scheduled_is_no_rate_of_progress():
    # Three readings at 0% (queued), then moving at 1% a second from t=20.
    samples = [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0), (30.0, 0.10), (40.0, 0.20)]
    left, moved = eta.observed(samples, now=40)
    assert left == pytest.approx(80) and moved == pytest.approx(0.20)


def test_nothing_is_estimated_before_the_percentage_moves_or_from_one_reading():
    assert eta.observed([(0.0, 0.0), (5.0, 0.0)], now=5) is None
    assert eta.observed([(5.0, 0.2), (5.0, 0.3)], now=5) is None  # one moment, two readings
    assert eta.observed([(0.0, 0.3)], now=0) is None
    assert eta.raw_estimate([(0.0, 0.0)], now=0, spent=0, expected_total=None) is None


def test_noisy_readings_of_a_steady_job_stay_close():
    # 0.5% a second, each reading off by up to two points, read every 10 s.
    jitter = [0.0, 0.02, -0.015, 0.01, -0.02, 0.015, -0.01, 0.02, 0.0, -0.015]
    samples = [(10.0 * i, max(0.005 * 10 * i + jitter[i], 0.0)) for i in range(1, 10)]
    samples.insert(0, (0.0, 0.0))
    left, _ = eta.observed(samples, now=90)
    assert left == pytest.approx(110, rel=0.25)  # 45% done at 90 s: 110 s left


def test_a_pause_makes_the_estimate_grow_but_never_by_more_than_the_factor():
    moving = polls(rate=0.01, every=5, count=5)  # 40% at 20 s
    paused = [(20.0 + 10 * i, 0.40) for i in range(1, 8)]  # then stuck for 70 s
    seen = shown_along(moving + paused)
    lefts = [
        (shown.left(t), t)
        for shown, (t, _) in zip(seen, moving + paused, strict=True)
        if shown is not None
    ]
    assert len(lefts) >= len(paused)  # shown from before the pause on
    assert lefts[-1][0] > 60  # a pause is not a job about to end ...
    for (before, t0), (after, t1) in pairwise(lefts):
        counted = before - (t1 - t0)
        if counted > 0:  # ... and each step stays within the factor of what was showing
            assert counted / eta.FACTOR - 1e-9 <= after <= counted * eta.FACTOR + 1e-9


def test_before_the_percentage_moves_the_prior_alone_is_shown_as_less_certain():
    shown = eta.next_shown(None, [(10.0, 0.0)], now=10, spent=10, expected_total=100)
    assert shown == eta.Shown(90, 10, prior_only=True)


def test_the_cloud_percentage_takes_over_from_the_prior_as_the_job_moves():
    # The prior says 200 s in all, but the job runs at 1% a second: 100 s.
    samples = polls(rate=0.01, every=5, count=2)  # 5% moved: a third of the trust span
    early = eta.raw_estimate(samples, now=5, spent=5, expected_total=200)
    assert not early.prior_only
    assert 95 < early.seconds < 195  # between the two
    samples = polls(rate=0.01, every=5, count=5)  # 20% moved: the samples alone
    late = eta.raw_estimate(samples, now=20, spent=20, expected_total=200)
    assert late.seconds == pytest.approx(80)


def test_a_restart_from_the_prior_lands_on_the_observed_rate_within_a_few_polls():
    # The prior is off by half (it says 50 s); the job really takes 100 s.
    samples = polls(rate=0.01, every=5, count=20)
    seen = shown_along(samples, expected_total=50)
    assert seen[0].prior_only and seen[0].seconds == pytest.approx(50)
    truth = [100 - t for t, _ in samples]
    assert seen[-1].left(samples[-1][0]) == pytest.approx(truth[-1], rel=0.1)


def test_the_clamp_holds_a_new_estimate_within_the_factor_of_the_one_showing():
    assert eta.clamp(60, 600) == pytest.approx(90)
    assert eta.clamp(60, 1) == pytest.approx(40)
    assert eta.clamp(60, 70) == 70


def test_an_unsteady_start_is_not_shown_until_two_readings_agree():
    # The job rushes then crawls: the estimates of consecutive readings disagree.
    samples = [(0.0, 0.0), (5.0, 0.30), (10.0, 0.31)]
    assert not eta.is_stable(samples, now=10, spent=10, expected_total=None)
    assert eta.next_shown(None, samples, now=10, spent=10, expected_total=None) is None
    steady = polls(rate=0.01, every=5, count=4)
    assert eta.is_stable(steady, now=15, spent=15, expected_total=None)


def test_once_run_out_the_estimate_stays_finishing_until_a_steady_one_comes():
    ran_out = eta.Shown(10, 0, prior_only=False)
    samples = [(0.0, 0.0), (5.0, 0.30), (40.0, 0.31)]
    assert eta.next_shown(ran_out, samples, now=40, spent=40, expected_total=None) == ran_out
    assert ran_out.left(40) < 0  # the page says "finishing…"


def test_samples_are_bounded_and_keep_where_the_job_started():
    samples: list[eta.Sample] = []
    for i in range(100):
        samples = eta.add_sample(samples, float(i), i / 100)
    assert len(samples) == eta.MAX_SAMPLES
    assert samples[0] == (0.0, 0.0) and samples[-1] == (99.0, 0.99)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3, "a few seconds"),
        (12, "about 10 s"),
        (41, "about 40 s"),
        (58, "about 1 min"),
        (100, "about 1 min 30 s"),
        (170, "about 3 min"),
        (611, "about 10 min"),
        (1420, "about 25 min"),
        (4790, "about 1 h 20 min"),
        (3 * 3600 + 4 * 60, "about 3 h"),
        (14.4 * 3600, "about 14 h"),
    ],
)
def test_the_figure_is_rounded_honestly_and_coarser_as_it_grows(seconds, text):
    assert eta.describe(seconds) == text


@given(
    readings=st.lists(st.tuples(st.floats(0.0, 120), st.floats(0.0, 0.2)), min_size=1, max_size=40),
    expected_total=st.none() | st.floats(1, 5000),
)
def test_consecutive_shown_estimates_never_differ_by_more_than_the_factor(readings, expected_total):
    # Any job: polls at any intervals, the percentage rising by any steps (or not at all).
    samples, t, fraction = [], 0.0, 0.0
    for gap, step in readings:
        t, fraction = t + gap, min(fraction + step, 0.99)
        samples.append((t, fraction))
    seen = shown_along(samples, expected_total=expected_total)
    for before, after, (t1, _) in zip(seen, seen[1:], samples[1:], strict=False):
        if before is None or after is None:
            continue
        counted, now_showing = before.left(t1), after.left(t1)
        if counted > 0:
            assert counted / eta.FACTOR * (1 - 1e-9) <= now_showing
            assert now_showing <= counted * eta.FACTOR * (1 + 1e-9)
