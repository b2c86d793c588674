"""HTTP failures in the error vocabulary: 4xx is the caller's fault (do not retry), 5xx and
connection problems are transient (retry per the step's policy)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from mlwright.errors import InvalidInput, Transient


@contextmanager
def translated(what: str) -> Iterator[None]:
    try:
        yield
    except httpx.HTTPStatusError as e:
        status, body = e.response.status_code, e.response.text[:300]
        if status in (408, 429) or status >= 500:
            raise Transient(f"{what}: HTTP {status} {body}") from e
        raise InvalidInput(what, f"HTTP {status} {body}") from e
    except httpx.TransportError as e:
        raise Transient(f"{what}: {type(e).__name__}: {e}") from e
