"""The export policy in force: the rules' defaults, with each IMS_EXPORT_* setting laid over."""

from __future__ import annotations

from ims_portal.exports import rules
from ims_portal.exports.cloud_access import export_policy


def test_with_no_setting_the_policy_is_the_rules_default(settings):
    settings.IMS_EXPORT_FAST_ONLY_FROM_GB = None
    settings.IMS_EXPORT_MAX_GB = None
    settings.IMS_EXPORT_REFUSED_PLATFORMS = None
    settings.IMS_EXPORT_NORMAL_ABOVE_FAST_LIMIT = None
    assert export_policy() == rules.DEFAULT_POLICY


def test_each_setting_that_is_set_changes_its_own_value_only(settings):
    settings.IMS_EXPORT_FAST_ONLY_FROM_GB = None
    settings.IMS_EXPORT_MAX_GB = 2048
    settings.IMS_EXPORT_REFUSED_PLATFORMS = ["Windows", "Ubuntu"]
    settings.IMS_EXPORT_NORMAL_ABOVE_FAST_LIMIT = True
    policy = export_policy()
    assert policy.fast_only_from_bytes == rules.DEFAULT_POLICY.fast_only_from_bytes
    assert policy.max_bytes == 2048 * rules.GIB
    assert policy.refused_platforms == frozenset({"Windows", "Ubuntu"})
    assert policy.normal_export_above_fast_limit is True


def test_an_empty_list_of_refused_platforms_refuses_none(settings):
    settings.IMS_EXPORT_REFUSED_PLATFORMS = []
    assert export_policy().refused_platforms == frozenset()
