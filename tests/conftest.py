"""Fixtures shared by every test package.

Simulator (the IMS + IAM stand-in in `ims_portal.simulator`, run as its own process):

- `simulator` (session): one process for the whole run, at a fast pace, on a free port.
  Yields a `RunningSimulator`: `.url` (IAM and IMS), `.project_id`, `.project_name`,
  `.region`, `.username` / `.password` / `.domain`, `.ak` / `.sk`, and `.control`
  (a `SimulatorControl`: `reset()`, `fault(...)`, `clear_faults()`, `expire_tokens()`,
  `configure(...)`, `requests(...)`, `jobs()`, `objects()`).
- `sim` (function): the same simulator, reset to its seed before the test, so faults,
  jobs, tokens and config changes never leak from one test into the next.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.simulator_process import RunningSimulator, SimulatorProcess

# The portal's own fixtures (web side on the simulator, a real Celery worker), and company
# SSO against a real OpenID provider.
pytest_plugins = ["tests.portal_fixtures", "tests.oidc_fixtures"]

# At 100x a small image exports in about a quarter of a second; tests that want to watch a
# job run slower call `sim.control.configure(speed=...)` (the next reset undoes it).
SIMULATOR_TEST_SPEED = 100.0


@pytest.fixture(autouse=True)
def checkpoint_file(settings, tmp_path) -> Path:
    """Each test's own audit checkpoint file (none written yet), never a shared one."""
    settings.AUDIT_CHECKPOINT_PATH = str(tmp_path / "checkpoints" / "audit-checkpoints.jsonl")
    return Path(settings.AUDIT_CHECKPOINT_PATH)


@pytest.fixture(autouse=True)
def poll_threads_stopped() -> Iterator[None]:
    """The poller's threads (and their database connections) do not outlive a test that
    started them."""
    yield
    from ims_portal.exports import poller

    poller.stop_threads()


@pytest.fixture(scope="session", autouse=True)
def no_users_cached_from_earlier_runs() -> None:
    """A new test database gives out user ids from 1 again: no user cached by id from an
    earlier run is taken for today's."""
    from ims_portal.accounts.user_cache import forget_everyone

    forget_everyone()


@pytest.fixture(scope="session")
def simulator() -> Iterator[RunningSimulator]:
    """One simulator process for the whole test session."""
    with SimulatorProcess(speed=SIMULATOR_TEST_SPEED) as process:
        yield process.running()


@pytest.fixture
def sim(simulator: RunningSimulator) -> RunningSimulator:
    """The session's simulator, reset to its seed state for this test."""
    simulator.control.reset()
    return simulator
