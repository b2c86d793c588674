"""All runtime configuration, read once from MLWRIGHT_* variables, a .env file or a TOML file.

Precedence (highest first): environment, ``.env``, the TOML file named by ``MLWRIGHT_CONFIG_FILE``,
defaults. Settings are for the *operator* (where things run, how much at once); what a pipeline
run does is in its workflow input, so two runs on one deployment can differ.
"""

from __future__ import annotations

import os
import re
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
        default_factory=dict,
        description="Webhook URLs per severity (critical, warning, info), as JSON; default: critical and "
        "warning to the dev alert inbox, http://127.0.0.1:<dev_alert_inbox_port>/alerts.",
    )
    business_rules_file: Path = Field(
        Path(__file__).parent / "patient_risk" / "business_rules.toml", description="Business rules (TOML)."
    )
    dev_alert_inbox_port: int = Field(8790, ge=1, le=65535, description="Alert inbox port of `mlwright dev`.")
    dev_fhir_parse_processes: int = Field(
        2, ge=0, le=16, description="Processes the dev FHIR endpoint parses and checks transaction bundles in "
        "(mlwright/services/fhir.py): in one, its threads share one interpreter lock and it was most of the FHIR "
        "write's time. 0: in the request's thread.",
    )
    fault_injection: str | None = Field(
        None, description="Testing only: 'step:N' makes the first N executions of that step in each worker "
        "process fail ('step' alone: every execution). Refused in production.",
    )

    # --- The input boundary: what a run's `dataset` may read (README, "Trust model") ---
    data_roots: dict[str, Path] | None = Field(
        None, description="Directories runs may read files from, by name (dataset.source + dataset.path), as "
        "JSON; default {\"local\": \"<home>/data\"}. A root may not contain mlwright's own state.",
    )
    data_connections: dict[str, str] = Field(
        default_factory=dict, description="Databases runs may query, by name (dataset.source + dataset.query): "
        "SQLAlchemy URLs (sqlite or postgresql), as JSON. Queried read-only, one SELECT at a time; give them a "
        "read-only role too.",
    )
    dataset_raw_uris: bool | None = Field(
        None, description="Whether dataset.uri may name a file or sqlite:/// database directly (still confined "
        "to the data roots); default true outside production.",
    )

    # TrainingPipeline: cost caps checked when a run starts, and the per-model promotion slot.
    training_max_estimators: int = Field(
        1000, ge=1, description="Largest estimator.params.n_estimators a TrainingPipeline run may ask for."
    )
    training_max_iterations: int = Field(
        100_000, ge=1, description="Largest estimator.params.max_iter a TrainingPipeline run may ask for."
    )
    training_max_rows: int = Field(
        5_000_000, ge=1, description="Most rows a TrainingPipeline run may train on (checked after extraction)."
    )
    training_max_fit_s: float = Field(
        3600, gt=0, le=7200, description="Longest one fit attempt may run (the train step's timeout)."
    )
    promotion_slot_poll_s: float = Field(
        30, gt=0, description="How often a run waiting for its model's promotion slot checks that the holder "
        "still runs; a released slot wakes the next run at once.",
    )

    otlp_endpoint: str | None = Field(None, description="OTLP endpoint for traces; none = no export.")
    otlp_protocol: Literal["grpc", "http"] = Field(
        "grpc", description="OTLP transport: grpc (e.g. host:4317) or http (e.g. http://host:4318/v1/traces).")
    trace_store: bool = Field(True, description="Keep finished spans in a local SQLite store for `mlwright trace`.")
    trace_store_path: Path | None = Field(None, description="Span store file; default <home>/traces.db (mode 0600).")
    trace_store_max_spans: int = Field(200_000, ge=100, description="Oldest spans are dropped beyond this many.")
    trace_store_max_age_days: float = Field(7, gt=0, description="Spans older than this are dropped.")
    log_level: str = Field("INFO", description="Python log level of mlwright processes.")
    # --- feature store (issue 7) ---
    redis_url: str | None = Field(
        None, description="Online feature store in Redis (e.g. redis://127.0.0.1:6379/0); default SQLite.")
    feature_store_root: Path | None = Field(None, description="Offline feature store; default <home>/features.")
    online_store_url: str | None = Field(
        None, description="SQLite URL of the online store when Redis is not set; default sqlite:///<home>/online.db.")

    # --- step ledger and metrics (issue 8) ---
    ledger: bool = Field(True, description="Record every activity attempt in the step_ledger table.")
    cpu_hour_price: dict[str, float] = Field(
        default_factory=dict, description="Price of one CPU-hour per resource class (io, cpu, training), "
        'e.g. {"cpu": 0.04, "training": 0.09}; a class not named costs 0.')
    gb_hour_price: dict[str, float] = Field(
        default_factory=dict, description="Price of one GB-hour of memory per resource class, charged on the "
        "step's peak RSS delta for its wall time.")
    metrics_port: int | None = Field(
        None, ge=0, le=65535, description="Serve Prometheus metrics (SDK + mlwright) on this port at /metrics; "
        "none = off. `mlwright dev/up` give each worker process base + its resource-class index.")
    metrics_bind_host: str = Field("127.0.0.1", description="Address the metrics endpoint listens on.")

    # --- alert routing by severity (issue 8) ---
    alert_formats: dict[str, Literal["json", "pagerduty", "slack", "store"]] = Field(
        default_factory=dict,
        description="Message shape per severity: pagerduty (Events API v2), slack (incoming webhook), json "
        "(mlwright's own body, the default) or store (kept in the store and the report, never sent).",
    )
    pagerduty_routing_key: str = Field("", description="routing_key of PagerDuty-shaped events.")
    alert_rate_limit_per_min: int | None = Field(
        None, ge=1, description="Most deliveries per route (URL) per minute, none = unlimited; the rest stay "
        "unsent and the attempt fails retryably (AlertRateLimited), so the next attempt sends them.")
    # --- deployment: worker versioning (issue 9) ---
    worker_deployment_name: str | None = Field(
        None, description="Temporal Worker Deployment name; with worker_build_id turns on Worker Versioning.")
    worker_build_id: str | None = Field(
        None, description="Build id of this worker (the image tag); running workflows stay pinned to it.")

    # --- approvals policy (issue 9) ---
    approval_policy_file: Path | None = Field(
        None, description="TOML policy of who may approve which model (deploy/approval-policy.example.toml).")
    # --- Patient data safety: payload encryption, codec server, connection security (issue 9) ---
    payload_encryption: bool = Field(True, description="Seal every payload Temporal stores with AES-256-GCM.")
    payload_keys: dict[str, str] = Field(
        default_factory=dict, description="Payload keys: key id -> base64 of 32 bytes; all decrypt, the active one "
        "encrypts. Without keys or a key file, development uses <home>/payload-keys.json (created, mode 0600).",
    )
    payload_active_key: str | None = Field(None, description="Key id that encrypts new payloads.")
    payload_key_file: Path | None = Field(
        None, description='JSON file {"active": id, "keys": {id: base64}}, merged with payload_keys.'
    )
    payload_accept_plaintext: bool | None = Field(
        None, description="Decode unencrypted payloads (histories from before encryption); default true "
        "outside production. Refused in production.",
    )
    codec_host: str = Field("127.0.0.1", description="Bind address of `mlwright codec-server`.")
    codec_port: int = Field(8791, ge=1, le=65535, description="Port of `mlwright codec-server`.")
    codec_token: str | None = Field(
        None, description="Bearer token the codec server requires; development default: <home>/codec-token "
        "(created, mode 0600). Required in production.",
    )
    codec_allowed_origin: str | None = Field(
        None, description="The one CORS origin (the Web UI) the codec server answers; default the dev UI URL."
    )
    codec_max_body_bytes: int = Field(8 * 1024 * 1024, ge=1024, description="Larger codec requests get 413.")
    temporal_tls_client_cert: Path | None = Field(None, description="mTLS client certificate (PEM).")
    temporal_tls_client_key: Path | None = Field(None, description="mTLS client private key (PEM).")
    temporal_tls_server_ca: Path | None = Field(None, description="CA bundle that signs the server certificate.")
    temporal_tls_server_name: str | None = Field(None, description="Server name to verify (SNI) if not the host.")
    # --- feature backfills (issue 7) ---
    backfill_concurrency: int = Field(
        2, ge=1, le=64, description="`mlwright backfill`: most FeaturePipeline runs at once (--concurrency overrides).")
    backfill_max_days: int = Field(
        366, ge=1, description="`mlwright backfill`: the longest date range one command may start.")

    # --- per-step overhead (issue 10) ---
    poller_autoscaling: bool = Field(
        False, description="Workers size their task pollers from the server's hints (1 to 100, bounded by free "
        "slots) instead of the SDK's fixed 5 per queue. Off until bench/pollers.py shows a robust gain: five "
        "alternating runs gave 0.76-1.18x the per-step time (bench/README.md).")

    # --- Lean workers and a fast start (issue 10, items 3 and 4) ---
    worker_connect_wait_s: float = Field(
        30, ge=0, description="How long a starting worker keeps trying to reach Temporal before it gives up: "
        "`mlwright dev` starts the workers beside the server, not after it.",
    )
    dev_start_timeout_s: float = Field(
        120, gt=0, description="How long `mlwright dev` waits for each part of its stack (every worker polling, "
        "the server, the services) before it gives up.",
    )
    dev_fork_children: bool = Field(
        True, description="`mlwright dev` imports what its Python children (workers, services, codec server) "
        "share once and forks them from itself; false: each is started as its own interpreter, as a "
        "production deploy starts each worker.",
    )
    worker_preload: bool = Field(
        True, description="An io or cpu worker polls at once and imports the libraries its steps share (numpy, "
        "pandas, pyarrow; workers/definitions.py PRELOAD) in the background: its first step then waits ~0.5 s for its "
        "step code and the store instead of ~0.8 s; false: nothing is imported ahead, and an idle worker holds least "
        "memory.",
    )
    worker_release_memory_growth_mb: float = Field(
        64, ge=0, description="After a step that left an io, cpu or training worker's RSS this much above where it "
        "began, the worker hands what the step freed back to the OS (Arrow's pool purged, glibc's heaps trimmed; a "
        "few ms): freed memory otherwise stays with the thread that freed it, and the next step's peak comes on top "
        "(workers/memory.py). 0: after every step.",
    )

    # --- throughput (issue 10) ---
    dev_task_queue_partitions: int = Field(
        1, ge=1, description="matching.numTaskqueueRead/WritePartitions for the dev server. One process "
        "serves every partition there, so more only forward tasks between partitions; with four resource-"
        "class queues that cost matching CPU at 100 concurrent pipelines (bench/throughput.py).",
    )

    @property
    def accepts_plaintext_payloads(self) -> bool:
        if self.payload_accept_plaintext is None:
            return self.environment != "production"
        return self.payload_accept_plaintext

    @property
    def codec_url(self) -> str:
        return f"http://{self.codec_host}:{self.codec_port}"

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

    @field_validator("alert_routes", "alert_formats")
    @classmethod
    def _known_severities(cls, value: dict) -> dict:
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

    @field_validator("data_roots", "data_connections")
    @classmethod
    def _source_names(cls, value: dict | None) -> dict | None:
        for name in value or {}:
            if not DATA_SOURCE_NAME.match(name):
                raise ValueError(f"data source name {name!r} must match {DATA_SOURCE_NAME.pattern}")
        return value

    @field_validator("data_connections")
    @classmethod
    def _read_only_backends(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            return value
        from sqlalchemy import make_url
        from sqlalchemy.exc import ArgumentError

        for name, url in value.items():
            try:
                backend = make_url(url).get_backend_name()
            except ArgumentError as e:
                raise ValueError(f"data connection {name!r} is not a SQLAlchemy URL") from e
            if backend not in READ_ONLY_BACKENDS:
                # Only backends on which mlwright can enforce a read-only session are accepted.
                raise ValueError(f"data connection {name!r}: backend {backend!r} is not one of "
                                 f"{sorted(READ_ONLY_BACKENDS)}")
        return value

    @model_validator(mode="after")
    def _data_sources_exclude_own_state(self) -> Settings:
        overlap = set(self.data_roots or {}) & set(self.data_connections)
        if overlap:
            raise ValueError(f"{sorted(overlap)} named both a data root and a data connection")
        state = self.protected_paths
        for name, root in self.resolved_data_roots.items():
            inside = [p for p in state if p.is_relative_to(root)]
            if inside:
                raise ValueError(f"data root {name!r} ({root}) contains mlwright's own state ({inside[0]})")
        for name, url in self.data_connections.items():
            if _same_database(url, self.resolved_database_url):
                raise ValueError(f"data connection {name!r} is mlwright's own store database")
        return self

    @model_validator(mode="after")
    def _routes_follow_the_inbox(self) -> Settings:
        # Derived, not a fixed port: a second stack on other ports must page its own inbox.
        if "alert_routes" not in self.model_fields_set:
            inbox = f"http://127.0.0.1:{self.dev_alert_inbox_port}/alerts"
            self.alert_routes = {"critical": [inbox], "warning": [inbox], "info": []}
        return self

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

    # Issue 9; after _production_is_strict so its messages come first.
    @model_validator(mode="after")
    def _payloads_are_sealed_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        if self.payload_accept_plaintext:
            raise ValueError("MLWRIGHT_PAYLOAD_ACCEPT_PLAINTEXT is refused in production")
        if self.payload_encryption and not (self.payload_keys or self.payload_key_file):
            raise ValueError("production needs MLWRIGHT_PAYLOAD_KEYS or MLWRIGHT_PAYLOAD_KEY_FILE")
        if self.codec_token is None:
            raise ValueError("production needs MLWRIGHT_CODEC_TOKEN for the codec server")
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
    def resolved_data_roots(self) -> dict[str, Path]:
        roots = self.data_roots if self.data_roots is not None else {"local": self.home / "data"}
        return {name: Path(root).resolve() for name, root in roots.items()}

    @property
    def allows_raw_dataset_uris(self) -> bool:
        return self.dataset_raw_uris if self.dataset_raw_uris is not None else self.environment != "production"

    @property
    def protected_paths(self) -> list[Path]:
        """mlwright's own state: never readable as a run's data, whatever the data roots say."""
        paths = [self.home.resolve(), self.resolved_artifact_root, self.resolved_sources_root]
        for url in (self.resolved_database_url, self.resolved_care_database_url):
            database = _sqlite_file(url)
            if database is not None:
                paths.append(database)
        return paths

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


READ_ONLY_BACKENDS = frozenset({"sqlite", "postgresql"})
DATA_SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


def _sqlite_file(url: str) -> Path | None:
    # Every process validates its settings, the workflow worker too: the shape mlwright writes
    # itself is read without SQLAlchemy, which that worker never otherwise loads (issue 10).
    plain = url.removeprefix("sqlite:///")
    if plain != url and plain.startswith("/") and not any(c in plain for c in "%?#"):
        return Path(plain).resolve()
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def _same_database(a: str, b: str) -> bool:
    from sqlalchemy import make_url

    first, second = make_url(a), make_url(b)
    if first.get_backend_name() != second.get_backend_name():
        return False
    if first.get_backend_name() == "sqlite":
        return _sqlite_file(a) is not None and _sqlite_file(a) == _sqlite_file(b)
    return (first.host or "localhost", first.port, first.database) == (second.host or "localhost", second.port,
                                                                      second.database)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; validated on first use so a bad value fails at start."""
    return Settings()
