"""The command line's exit codes: one per way an export ends, held to the portal's statuses
(the client imports nothing of the portal, so this test is what keeps the two in step)."""

from __future__ import annotations

from ims_portal.cli.exit_codes import BY_STATUS, Exit, for_status
from ims_portal.exports.models import Status


def test_every_ending_status_has_an_exit_code_and_only_those():
    assert set(BY_STATUS) == {status.value for status in Status.TERMINAL}


def test_the_codes_a_script_relies_on_are_distinct():
    assert len(set(Exit)) == len(Exit)
    assert for_status(Status.SUCCEEDED, in_flight=False) == Exit.OK == 0
    assert for_status(Status.FAILED, in_flight=False) == Exit.FAILED
    assert for_status(Status.REJECTED, in_flight=False) == Exit.REJECTED
    assert for_status(Status.UNKNOWN, in_flight=False) == Exit.UNKNOWN
    assert for_status(Status.RUNNING, in_flight=True) == Exit.IN_FLIGHT
    assert Exit.USAGE == 2  # what argparse exits with on its own
