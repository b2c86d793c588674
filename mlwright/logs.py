"""Process logging set-up, in a module of its own: the dev supervisor and the dev services need it
without mlwright.telemetry's imports (OpenTelemetry and the Temporal SDK, ~0.35 CPU s)."""

from __future__ import annotations

import logging

from mlwright.settings import Settings


def setup_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
