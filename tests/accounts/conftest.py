"""Fixtures of the accounts tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ims_portal.accounts import signals

SIGNALS = ("roles_changed", "sign_in_refused", "access_refused")


@pytest.fixture
def sent() -> Iterator[dict[str, list[dict[str, Any]]]]:
    """The keyword arguments of every accounts signal sent during the test, by name."""
    seen: dict[str, list[dict[str, Any]]] = {name: [] for name in SIGNALS}

    def recorder(name: str):
        def receive(sender: Any, signal: Any, **kwargs: Any) -> None:
            seen[name].append(kwargs)

        return receive

    receivers = {name: recorder(name) for name in SIGNALS}
    for name, receive in receivers.items():
        getattr(signals, name).connect(receive)
    yield seen
    for name, receive in receivers.items():
        getattr(signals, name).disconnect(receive)
