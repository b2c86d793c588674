"""The codec server's bearer token and the Web UI's endpoint carrying it, without FastAPI: the dev
stack puts the endpoint on the Temporal server's command line before anything else starts."""

from __future__ import annotations

import secrets

from mlwright.private import create_once
from mlwright.settings import Settings

TOKEN_FILE = "codec-token"


def codec_token(settings: Settings) -> str:
    """The configured token, or (development only) one kept in <home>/codec-token."""
    if settings.codec_token:
        return settings.codec_token
    if settings.environment == "production":
        raise RuntimeError("MLWRIGHT_CODEC_TOKEN is required in production")
    return create_once(settings.home / TOKEN_FILE, secrets.token_urlsafe(32)).read_text().strip()


def ui_endpoint(settings: Settings) -> str:
    return f"{settings.codec_url}/ui/{codec_token(settings)}"
