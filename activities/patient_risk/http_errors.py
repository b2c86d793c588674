"""HTTP failures in the error vocabulary: 4xx is the caller's fault (do not retry), 5xx and
connection problems are transient (retry per the step's policy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from mlwright.errors import InvalidInput, Transient


def refused(what: str, problem: str, status: int | None = None) -> InvalidInput | Transient:
    """The error for an answer with ``status`` (None: the request could not be made as given)."""
    if status is not None and (status in (408, 429) or status >= 500):
        return Transient(f"{what}: {problem}")
    return InvalidInput(what, problem)


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except httpx.HTTPStatusError as e:
        status = e.response.status_code
        raise refused(what, f"HTTP {status} {e.response.text[:300]}", status) from e
    except httpx.TransportError as e:
        raise Transient(f"{what}: {type(e).__name__}: {e}") from e
