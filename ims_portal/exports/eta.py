"""How long an export has left, worked out from what was seen of it. Pure functions.

Two sources, weighed against each other:

- the cloud's percentage over time (`Sample`s taken at each poll): a rate fitted over the
  recent half of the samples, so a job that speeds up or slows down is followed, while one
  noisy reading does not swing it;
- a prior: how long exports alike (same format, fast or not) took before, for this size,
  which is all there is before the percentage moves, or when the cloud gives no percentage.

What the page shows is a `Shown` estimate, worked out by the poll (never by a page view) and
counted down from its time between polls. Once shown, a new estimate stays within `FACTOR`
of the previous one counted down to now, so the page never jumps; before that, it is shown
only once two readings agree (`is_stable`). Nothing here knows how any cloud (or the
simulator) paces its jobs: it must hold on a real cloud too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# The most a shown estimate may change at one poll, against the previous one counted down.
FACTOR = 1.5
# Samples kept per export: with the poll back-off capped at a minute, about half an hour.
MAX_SAMPLES = 30
# Readings in a row whose estimates, counted down to now, must agree before one is shown ...
STABLE_READINGS = 2
# ... within this ratio of each other.
STABLE_SPREAD = 1.5
# Share of the job seen moving after which the cloud's percentage outweighs the prior fully.
TRUST_SPAN = 0.15
# Nothing is estimated beyond a week: a rate that small means "stopped", not "slow".
LONGEST = 7 * 24 * 3600.0

Sample = tuple[float, float]  # (epoch seconds, the cloud's fraction done 0..1)


@dataclass(frozen=True, slots=True)
class Raw:
    """One poll's estimate, before the stability gate and the clamp."""

    seconds: float  # time left at the poll
    prior_only: bool  # the cloud's percentage had nothing to say yet


@dataclass(frozen=True, slots=True)
class Shown:
    """The estimate the page shows: `seconds` left at `at` (epoch seconds)."""

    seconds: float
    at: float
    prior_only: bool

    def left(self, now: float) -> float:
        """Seconds left at `now`, counted down from `at` (negative once it has run out)."""
        return self.seconds - (now - self.at)


def add_sample(samples: Sequence[Sample], at: float, fraction: float) -> list[Sample]:
    """`samples` with one more reading, bounded: the first one (where the job started
    moving from) and the most recent ones are kept."""
    kept = [*samples, (round(at, 3), fraction)]
    if len(kept) > MAX_SAMPLES:
        kept = kept[:1] + kept[-(MAX_SAMPLES - 1) :]
    return kept


def _slope(points: Sequence[Sample]) -> float:
    """Least-squares fraction per second through `points` (at least two, distinct times)."""
    mean_t = sum(t for t, _ in points) / len(points)
    mean_f = sum(f for _, f in points) / len(points)
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread <= 0:
        return 0.0
    return sum((t - mean_t) * (f - mean_f) for t, f in points) / spread


def observed(samples: Sequence[Sample], now: float) -> tuple[float, float] | None:
    """(seconds left at `now`, share of the job seen moving) from the cloud's percentage,
    or None while it has not moved."""
    if len(samples) < 2:
        return None
    # The job moves from the last reading that still showed the first value (a job that
    # waits to be scheduled reads 0% for a while; that wait is no rate of progress).
    start = 0
    while start + 1 < len(samples) and samples[start + 1][1] <= samples[0][1]:
        start += 1
    moving = samples[start:]
    moved = moving[-1][1] - moving[0][1]
    if len(moving) < 2 or moved <= 0:
        return None
    # The recent half of the moving readings, at least the last two.
    window = moving[len(moving) // 2 :] if len(moving) >= 4 else moving
    rate = _slope(window)
    if rate <= 0:  # stopped lately: the average since it moved is the best rate there is
        took = moving[-1][0] - moving[0][0]
        if took <= 0:  # readings of one moment (a poll re-sent at once) say nothing of time
            return None
        rate = moved / took
    last_t, last_f = moving[-1]
    if rate * LONGEST <= 1.0 - last_f:  # slower than a week (and no division by ~0)
        return LONGEST, moved
    left = (1.0 - last_f) / rate - (now - last_t)
    return min(max(left, 0.0), LONGEST), moved


def raw_estimate(
    samples: Sequence[Sample], *, now: float, spent: float, expected_total: float | None
) -> Raw | None:
    """The time left at `now` from the samples and the prior (`expected_total`: seconds an
    export alike took in all; `spent`: seconds this one has been at the cloud)."""
    prior = None if expected_total is None else min(max(expected_total - spent, 0.0), LONGEST)
    seen = observed(samples, now)
    if seen is None:
        return None if prior is None else Raw(prior, prior_only=True)
    left, moved = seen
    if prior is None:
        return Raw(left, prior_only=False)
    weight = min(moved / TRUST_SPAN, 1.0)
    return Raw(weight * left + (1.0 - weight) * prior, prior_only=False)


def is_stable(
    samples: Sequence[Sample], *, now: float, spent: float, expected_total: float | None
) -> bool:
    """Whether the estimates of the last `STABLE_READINGS` polls, each counted down to now,
    agree within `STABLE_SPREAD`. An estimate from the prior alone is one figure from
    history and cannot waver; it is stable as it is (and shown as less certain)."""
    current = raw_estimate(samples, now=now, spent=spent, expected_total=expected_total)
    if current is None:
        return False
    if current.prior_only:
        return True
    if len(samples) < STABLE_READINGS:
        return False
    counted = []
    for end in range(len(samples) - STABLE_READINGS + 1, len(samples) + 1):
        at = samples[end - 1][0]
        then = raw_estimate(
            samples[:end], now=at, spent=spent - (now - at), expected_total=expected_total
        )
        if then is None or then.prior_only:
            return False
        counted.append(max(then.seconds - (now - at), 1.0))
    return max(counted) <= STABLE_SPREAD * min(counted)


def clamp(previous_left: float, raw: float, factor: float = FACTOR) -> float:
    """`raw` held within [previous/factor, previous*factor] of the estimate still showing."""
    return min(max(raw, previous_left / factor), previous_left * factor)


def next_shown(
    previous: Shown | None,
    samples: Sequence[Sample],
    *,
    now: float,
    spent: float,
    expected_total: float | None,
) -> Shown | None:
    """What the page shows from this poll on.

    While an estimate is showing, the new one is clamped to it (counted down to now). Before
    the first, and after one has run out (the page says "finishing…"), a new one must pass
    the stability gate; until then the previous value stays as it was.
    """
    raw = raw_estimate(samples, now=now, spent=spent, expected_total=expected_total)
    if raw is None:
        return previous
    if previous is not None and previous.left(now) > 0:
        return Shown(clamp(previous.left(now), raw.seconds), now, raw.prior_only)
    if not is_stable(samples, now=now, spent=spent, expected_total=expected_total):
        return previous
    return Shown(raw.seconds, now, raw.prior_only)


def describe(seconds: float) -> str:
    """An honest round figure, coarser as it grows: "a few seconds", "about 40 s",
    "about 3 min", "about 1 h 20 min"."""
    if seconds < 10:  # whole seconds this close to the end would promise too much
        return "a few seconds"
    if seconds < 60:
        step = 5
    elif seconds < 5 * 60:
        step = 30
    elif seconds < 20 * 60:
        step = 60
    elif seconds < 60 * 60:
        step = 5 * 60
    elif seconds < 10 * 3600:
        step = 10 * 60
    else:
        step = 3600
    rounded = max(round(seconds / step) * step, step)
    hours, rest = divmod(rounded, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h" if hours else "", f"{minutes} min" if minutes else ""]
    parts.append(f"{secs} s" if secs else "")
    return "about " + " ".join(part for part in parts if part)
