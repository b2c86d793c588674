"""All runtime configuration, read once from MLWRIGHT_* variables, a .env file or a TOML file.

Precedence (highest first): environment, ``.env``, the TOML file named by ``MLWRIGHT_CONFIG_FILE``,
defaults. Settings are for the *operator* (where things run, how much at once); what a pipeline
run does is in its workflow input, so two runs on one deployment can differ.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="MLWRIGHT_",
        env_file=".env",
        extra="forbid",
        validate_default=True,
    )

    environment: Literal["development", "test", "production"] = Field(
        "development", description="production enables the strict checks below."
    )
    home: Path = Field(Path(".mlwright"), description="Local state: dev-server DB, artifacts, logs.")

    temporal_address: str = Field("localhost:7233", description="host:port of the Temporal frontend.")
    temporal_namespace: str = Field("default", description="Temporal namespace for every client.")
    temporal_api_key: str | None = Field(None, description="Temporal Cloud API key (enables TLS).")
    temporal_tls: bool = Field(False, description="Use TLS towards the frontend.")
    temporal_ui_url: str | None = Field(
        None, description="Base URL of the Web UI for run links; default http://localhost:<dev_ui_port>."
    )
    task_queue_prefix: str = Field(
        "", description="Prefix for every task queue, so deployments can share a namespace."
    )
    register_search_attributes: bool = Field(
        True, description="Workflow workers register mlwright's search attributes when the namespace lacks "
        "them; false: they refuse to start and print the command an operator runs once.",
    )

    dev_ui_port: int = Field(8233, ge=1, le=65535, description="Web UI port of `mlwright dev`.")
    dev_transfer_poll_rps: int = Field(
        1000,
        ge=1,
        description="history.transferProcessorMaxPollRPS for the dev server; the default (20) puts "
        "every step on a 50 ms grid (bench/overhead.py).",
    )

    dev_sqlite_pragmas: list[str] = Field(
        default_factory=lambda: ["journal_mode=wal", "synchronous=normal"],
        description="PRAGMA=VALUE pairs for the dev server's SQLite state file. WAL with synchronous=normal "
        "survives a crash of the server process and halves per-step latency against the default (bench/overhead.py).",
    )

    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the store; default sqlite:///<home>/mlwright.db."
    )
    artifact_root: Path | None = Field(None, description="Artifact store root; default <home>/artifacts.")

    io_concurrency: int = Field(8, ge=1, description="Activities at once on the io queue worker.")
    cpu_concurrency: int = Field(2, ge=1, description="Activities at once on the cpu queue worker.")
    training_concurrency: int = Field(1, ge=1, description="Activities at once on the training worker.")
    pipelines_concurrency: int = Field(50, ge=1, description="Workflow tasks at once on the pipelines worker.")

    graceful_shutdown_s: float = Field(
        10, ge=0, description="On SIGTERM, how long running activities get to finish before cancellation."
    )

    sources_root: Path | None = Field(None, description="Patient-risk source systems; default <home>/sources.")
    ehr_url: str | None = Field(None, description="EHR database URL; default SQLite under sources_root.")
    pharmacy_url: str = Field("http://127.0.0.1:8788", description="Base URL of the pharmacy system's API.")
    fhir_url: str = Field("http://127.0.0.1:8789/fhir", description="Downstream FHIR R4 endpoint (base URL).")
    care_database_url: str | None = Field(
        None, description="Care-management database URL; default sqlite:///<home>/care.db."
    )
    alert_routes: dict[str, list[str]] = Field(
        default_factory=lambda: {"critical": ["http://127.0.0.1:8790/alerts"],
                                 "warning": ["http://127.0.0.1:8790/alerts"], "info": []},
        description="Webhook URLs per severity (critical, warning, info), as JSON.",
    )
    business_rules_file: Path = Field(
        Path(__file__).parent / "patient_risk" / "business_rules.toml", description="Business rules (TOML)."
    )
    dev_alert_inbox_port: int = Field(8790, ge=1, le=65535, description="Alert inbox port of `mlwright dev`.")
    fault_injection: str | None = Field(
        None, description="Testing only: 'step:N' makes the first N executions of that step in each worker "
        "process fail ('step' alone: every execution). Refused in production.",
    )

    otlp_endpoint: str | None = Field(None, description="OTLP endpoint for traces; none = no export.")
    otlp_protocol: Literal["grpc", "http"] = Field(
        "grpc", description="OTLP transport: grpc (e.g. host:4317) or http (e.g. http://host:4318/v1/traces).")
    trace_store: bool = Field(True, description="Keep finished spans in a local SQLite store for `mlwright trace`.")
    trace_store_path: Path | None = Field(None, description="Span store file; default <home>/traces.db (mode 0600).")
    trace_store_max_spans: int = Field(200_000, ge=100, description="Oldest spans are dropped beyond this many.")
    trace_store_max_age_days: float = Field(7, gt=0, description="Spans older than this are dropped.")
    log_level: str = Field("INFO", description="Python log level of mlwright processes.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings, dotenv_settings]
        config_file = os.environ.get("MLWRIGHT_CONFIG_FILE")
        if config_file:
            if not Path(config_file).is_file():
                raise ValueError(f"MLWRIGHT_CONFIG_FILE={config_file!r} does not exist")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("temporal_address")
    @classmethod
    def _address_has_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"must be host:port, got {value!r}")
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return value.upper()

    @field_validator("alert_routes")
    @classmethod
    def _known_severities(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        unknown = set(value) - {"critical", "warning", "info"}
        if unknown:
            raise ValueError(f"unknown severities {sorted(unknown)}; use critical, warning, info")
        return value

    @field_validator("fault_injection")
    @classmethod
    def _fault_spec(cls, value: str | None) -> str | None:
        if value is not None:
            step, _, count = value.partition(":")
            if not step or (count and not count.isdigit()):
                raise ValueError(f"expected 'step' or 'step:N', got {value!r}")
        return value

    @model_validator(mode="after")
    def _production_is_strict(self) -> Settings:
        if self.environment != "production":
            return self
        if self.fault_injection:
            raise ValueError("MLWRIGHT_FAULT_INJECTION is for testing and is refused in production")
        if self.resolved_database_url.startswith("sqlite"):
            raise ValueError("production needs a server database: set MLWRIGHT_DATABASE_URL")
        if self.temporal_api_key is not None and self.temporal_api_key.lower() in {"", "changeme", "secret"}:
            raise ValueError("MLWRIGHT_TEMPORAL_API_KEY holds a placeholder")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'mlwright.db').resolve()}"

    @property
    def resolved_artifact_root(self) -> Path:
        return (self.artifact_root or self.home / "artifacts").resolve()

    @property
    def resolved_sources_root(self) -> Path:
        return (self.sources_root or self.home / "sources").resolve()

    @property
    def resolved_care_database_url(self) -> str:
        return self.care_database_url or f"sqlite:///{(self.home / 'care.db').resolve()}"

    @property
    def temporal_port(self) -> int:
        return int(self.temporal_address.rpartition(":")[2])

    @property
    def ui_url(self) -> str:
        return (self.temporal_ui_url or f"http://localhost:{self.dev_ui_port}").rstrip("/")

    def run_url(self, workflow_id: str, run_id: str | None = None) -> str:
        base = f"{self.ui_url}/namespaces/{self.temporal_namespace}/workflows/{workflow_id}"
        return f"{base}/{run_id}/history" if run_id else base

    def runs_url(self, query: str) -> str:
        """The Web UI's workflow list filtered by a visibility query."""
        return f"{self.ui_url}/namespaces/{self.temporal_namespace}/workflows?query={quote(query)}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; validated on first use so a bad value fails at start."""
    return Settings()
