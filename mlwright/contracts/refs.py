"""References to data kept outside Temporal: payloads carry these, never the data itself."""

from __future__ import annotations

from pydantic import Field

from mlwright.contracts.common import Contract


class ArtifactRef(Contract):
    uri: str = Field(description="Where the bytes live (file:// URI in the local artifact store).")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Content hash; loads verify it.")
    size_bytes: int = Field(ge=0)


class DatasetRef(Contract):
    artifact: ArtifactRef = Field(description="The Parquet file holding the table.")
    rows: int = Field(ge=0)
    columns: list[str] = Field(description="Column names, in order.")
