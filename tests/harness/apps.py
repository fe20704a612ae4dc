from django.apps import AppConfig


class HarnessConfig(AppConfig):
    """Test-only app (installed by tests/settings.py): what the harness needs from Django."""

    name = "tests.harness"
    label = "test_harness"
