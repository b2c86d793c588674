"""Small helpers about activity definitions."""

from __future__ import annotations

from collections.abc import Callable

from temporalio.activity import _Definition


def defn_name(fn: Callable) -> str:
    """The name an activity callable is registered under."""
    return _Definition.must_from_callable(fn).name
