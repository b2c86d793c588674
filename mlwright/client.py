"""The one place a Temporal client is configured: pydantic payloads, tracing, TLS/API key.

Every client and every worker (workers inherit their client's plugins) shares ``client_options()``,
so a run is traced the same way whether tests, the dev stack or production serve it.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from mlwright import telemetry
from mlwright.settings import Settings


def client_options() -> dict[str, Any]:
    """Options every client shares; test environments pass them to the servers they start."""
    return {"data_converter": pydantic_data_converter, "plugins": [telemetry.plugin()]}


async def connect(settings: Settings, target: str | None = None) -> Client:
    return await Client.connect(
        target or settings.temporal_address,
        namespace=settings.temporal_namespace,
        api_key=settings.temporal_api_key,
        tls=settings.temporal_tls or settings.temporal_api_key is not None,
        **client_options(),
    )
