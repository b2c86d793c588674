"""The one place a Temporal client is configured: pydantic payloads, encryption, tracing, TLS/API key.

Every client and every worker (workers inherit their client's plugins and converter) shares
``client_options()``, so a run is sealed and traced the same way whether tests, the dev stack or
production serve it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes
from temporalio.service import TLSConfig

from mlwright import telemetry
from mlwright.codec import codec_for
from mlwright.settings import Settings, get_settings


class ConnectionSettingsError(RuntimeError):
    """Connecting to Temporal failed; the message names the setting to look at."""


def data_converter(settings: Settings | None = None) -> DataConverter:
    settings = settings or get_settings()
    codec = codec_for(settings)
    if codec is None:
        return pydantic_data_converter
    # The default failure converter keeps messages and stack traces in plaintext; these go through the codec.
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec,
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)


def client_options(settings: Settings | None = None) -> dict[str, Any]:
    """Options every client shares; test environments pass them to the servers they start."""
    return {"data_converter": data_converter(settings), "plugins": [telemetry.plugin()]}


def _read(path: Path | None, setting: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConnectionSettingsError(f"{setting}: cannot read {path}: {exc.strerror or exc}") from None


def tls_config(settings: Settings) -> TLSConfig | bool:
    cert = _read(settings.temporal_tls_client_cert, "MLWRIGHT_TEMPORAL_TLS_CLIENT_CERT")
    key = _read(settings.temporal_tls_client_key, "MLWRIGHT_TEMPORAL_TLS_CLIENT_KEY")
    if (cert is None) != (key is None):
        missing = "MLWRIGHT_TEMPORAL_TLS_CLIENT_KEY" if key is None else "MLWRIGHT_TEMPORAL_TLS_CLIENT_CERT"
        raise ConnectionSettingsError(f"{missing}: mTLS needs both a client certificate and its key")
    ca = _read(settings.temporal_tls_server_ca, "MLWRIGHT_TEMPORAL_TLS_SERVER_CA")
    for pem, setting in ((cert, "CLIENT_CERT"), (key, "CLIENT_KEY"), (ca, "SERVER_CA")):
        if pem is not None and b"-----BEGIN" not in pem:
            raise ConnectionSettingsError(f"MLWRIGHT_TEMPORAL_TLS_{setting}: not a PEM file")
    if cert or ca or settings.temporal_tls_server_name:
        return TLSConfig(server_root_ca_cert=ca, client_cert=cert, client_private_key=key,
                         domain=settings.temporal_tls_server_name)
    return settings.temporal_tls or settings.temporal_api_key is not None


async def connect(settings: Settings, target: str | None = None) -> Client:
    tls = tls_config(settings)
    address = target or settings.temporal_address
    try:
        return await Client.connect(address, namespace=settings.temporal_namespace,
                                    api_key=settings.temporal_api_key, tls=tls, **client_options(settings))
    except RuntimeError as exc:
        hint = ("check MLWRIGHT_TEMPORAL_TLS_SERVER_CA / MLWRIGHT_TEMPORAL_TLS_SERVER_NAME / "
                "MLWRIGHT_TEMPORAL_TLS_CLIENT_CERT (certificate rejected?)") if tls else \
            "is the server up, and does it need TLS (MLWRIGHT_TEMPORAL_TLS)?"
        raise ConnectionSettingsError(f"cannot reach Temporal at MLWRIGHT_TEMPORAL_ADDRESS={address}: {hint} "
                                      f"({str(exc).splitlines()[0][:200]})") from None
