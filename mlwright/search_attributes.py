"""mlwright's custom search attributes by name and type, as the `temporal` CLI spells them: a plain
table, so `mlwright dev` can put them on the server's command line before it imports the Temporal
SDK (mlwright/visibility.py holds the SDK's keys for the same names; a test keeps them equal)."""

from __future__ import annotations

TYPES = {
    "MlwrightPipeline": "Keyword",
    "MlwrightModel": "Keyword",
    "MlwrightRunDate": "Datetime",
    "MlwrightState": "Keyword",
    "MlwrightStep": "Keyword",
    "MlwrightTriggeredBy": "Keyword",
    "MlwrightUpstream": "Keyword",
}


def dev_server_args() -> list[str]:
    """`temporal server start-dev` flags that register every attribute at start."""
    return [arg for name, kind in TYPES.items() for arg in ("--search-attribute", f"{name}={kind}")]
