"""The catalogue knows, per code, whether sending the same export again can help."""

from __future__ import annotations

import pytest

from ims_portal.cloud.catalogue import CATALOGUE, Explanation, Retry, explain


@pytest.mark.parametrize(
    ("code", "status", "retry"),
    [
        ("IMG.0014", None, Retry.USELESS),  # the backend failed on the image: a damaged snapshot
        ("IMG.0070", None, Retry.USELESS),  # the file exists: the same request meets it again
        ("IMG.0071", None, Retry.USELESS),  # the image can never be exported
        ("IMG.0060", None, Retry.HELPS),  # too many jobs: they end
        ("IMG.0148", None, Retry.HELPS),  # already being exported: that one ends
        ("APIGW.0308", None, Retry.HELPS),  # throttled
        ("", 429, Retry.HELPS),
        ("", 503, Retry.HELPS),  # the cloud briefly unavailable
        ("", 403, Retry.USELESS),
        ("IMG.9999", None, Retry.MAYBE),  # a code the catalogue does not know
    ],
)
def test_the_catalogue_says_whether_a_retry_can_help(code, status, retry):
    assert explain(code, status=status).retry == retry


def test_every_entry_says_something_about_retrying():
    assert all(isinstance(e.retry, Retry) for e in CATALOGUE.values())


def test_an_entry_that_says_a_retry_is_useless_never_advises_trying_again_later():
    for code, explanation in CATALOGUE.items():
        if explanation.retry == Retry.USELESS:
            assert "try again later" not in explanation.remedy.lower(), code


def test_the_default_verdict_is_maybe_with_words_for_each():
    assert Explanation("x.", "do y").retry == Retry.MAYBE
    verdicts = {advice.verdict for advice in Retry}
    assert len(verdicts) == len(Retry) and all(v.endswith(".") for v in verdicts)
