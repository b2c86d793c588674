"""The schedules file: Temporal Schedules and cross-pipeline dependencies, declared in TOML.

Pure parsing and validation (no Temporal, no database): `mlwright schedules apply` reads the whole
file through ``load`` before it touches anything, so a bad file changes nothing. Workflows are named
by their type string, so a schedule or dependency may name a pipeline this process cannot import;
its input is then checked by the workflow when it runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlwright.contracts.common import describe_validation_error

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_CRON_FIELD = re.compile(r"^[A-Za-z0-9*?/,#LW-]+$")
Overlap = Literal["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other", "allow_all"]


class ScheduleFileError(ValueError):
    """The file cannot be applied; the message names the field."""


def parse_duration(text: str) -> timedelta:
    """"90s", "15m", "1h30m", "1d": the units the Temporal CLI takes, without fractions."""
    match = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not match or not text.strip():
        raise ValueError(f"expected a duration such as 30s, 15m, 1h30m or 1d, got {text!r}")
    d, h, m, s = (int(g or 0) for g in match.groups())
    return timedelta(days=d, hours=h, minutes=m, seconds=s)


def _known_inputs() -> dict[str, type[BaseModel]]:
    """Input models of the workflow types this package defines; others are checked when they run."""
    from mlwright.contracts.feature_pipeline import FeaturePipelineInput
    from mlwright.contracts.monitor import MonitorInput
    from mlwright.contracts.patient_risk import PatientRiskInput
    from mlwright.contracts.training import TrainingInput

    return {"TrainingPipeline": TrainingInput, "PatientRiskPipeline": PatientRiskInput,
            "FeaturePipeline": FeaturePipelineInput, "RetrainingMonitor": MonitorInput}


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ScheduleSpec(_Entry):
    """One `[[schedule]]` table."""

    id: str = Field(description="Schedule id, unique in the namespace.")
    workflow: str = Field(description="Workflow type name, e.g. FeaturePipeline.")
    workflow_id: str | None = Field(None, description="Id of the runs it starts (Temporal appends the time); "
                                                      "default: the schedule id.")
    cron: list[str] | None = Field(None, description="Cron expressions (5 fields, UTC unless timezone).")
    every: str | None = Field(None, description="Interval instead of cron, e.g. 1h.")
    offset: str | None = Field(None, description="Offset of the interval, e.g. 15m past each hour.")
    timezone: str | None = Field(None, description="IANA zone for cron, e.g. Europe/Berlin.")
    jitter: str = Field("0s", description="Random delay up to this long per action.")
    overlap: Overlap = Field("skip", description="What to do when a run is still going at the next time.")
    catchup_window: str = Field("1h", description="How late a missed action (server down) may still run.")
    pause_on_failure: bool = Field(False, description="Pause the schedule when a run it started fails.")
    input: dict[str, Any] = Field(default_factory=dict, description="The workflow's JSON input.")
    note: str = Field("", description="Shown in the Web UI and `mlwright schedules list`.")

    @field_validator("id", "workflow_id", "workflow")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _ID.match(value):
            raise ValueError(f"{value!r} is not a name (letters, digits, _ . -; at most 200)")
        return value

    @field_validator("cron", mode="before")
    @classmethod
    def _cron(cls, value: object) -> object:
        items = [value] if isinstance(value, str) else value
        for expr in items or []:
            fields = expr.split() if isinstance(expr, str) else []
            if not (5 <= len(fields) <= 7 or (len(fields) == 1 and fields[0].startswith("@"))) or not all(
                    _CRON_FIELD.match(f.lstrip("@")) for f in fields):
                raise ValueError(f"{expr!r} is not a cron expression (5 fields: minute hour day month weekday)")
        return items

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise ValueError(f"{value!r} is not an IANA time zone (e.g. UTC, Europe/Berlin)") from e
        return value

    @field_validator("every", "offset", "jitter", "catchup_window")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _when(self) -> ScheduleSpec:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron or every")
        if self.every is not None and parse_duration(self.every) <= timedelta(0):
            raise ValueError("every must be longer than 0s")
        if self.offset is not None and self.every is None:
            raise ValueError("offset needs every")
        return self


class DependencySpec(_Entry):
    """One `[[dependency]]` table: `downstream` runs when `upstream` completes for a date."""

    upstream: str = Field(description="Workflow type whose completion for a date triggers the downstream.")
    downstream: str = Field(description="Workflow type started, once per date, as <downstream>-<date>.")
    input: dict[str, Any] = Field(default_factory=dict,
                                  description="The downstream's input; run_date is set to the upstream's.")

    @field_validator("upstream", "downstream")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError(f"{value!r} is not a workflow type name")
        return value

    @model_validator(mode="after")
    def _not_self(self) -> DependencySpec:
        if self.upstream == self.downstream:
            raise ValueError("a pipeline cannot depend on itself")
        if "run_date" in self.input:
            raise ValueError("input.run_date: set from the upstream run; leave it out")
        return self

    def input_for(self, run_date: date) -> dict[str, Any]:
        return {**self.input, "run_date": run_date.isoformat()}

    def spec_hash(self) -> str:
        return _hash(self.model_dump(mode="json"))


class ScheduleFile(_Entry):
    schedule: list[ScheduleSpec] = Field(default_factory=list)
    dependency: list[DependencySpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ScheduleFile:
        for label, keys in (("schedule ids", [s.id for s in self.schedule]),
                            ("dependencies", [(d.upstream, d.downstream) for d in self.dependency])):
            dup = sorted({str(k) for k in keys if keys.count(k) > 1})
            if dup:
                raise ValueError(f"duplicate {label}: {dup}")
        return self


def load(path: Path) -> ScheduleFile:
    """Parse and validate the whole file, including each known workflow's input."""
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as e:
        raise ScheduleFileError(f"{path}: cannot read ({e.strerror})") from e
    except tomllib.TOMLDecodeError as e:
        raise ScheduleFileError(f"{path}: not valid TOML: {e}") from e
    try:
        parsed = ScheduleFile.model_validate(raw)
    except ValidationError as e:
        raise ScheduleFileError(f"{path}: {describe_validation_error(e)}") from e
    known = _known_inputs()
    problems = []
    for i, s in enumerate(parsed.schedule):
        problems += _check_input(known, s.workflow, s.input, f"schedule.{i}.input ({s.id})")
    for i, d in enumerate(parsed.dependency):
        problems += _check_input(known, d.downstream, d.input_for(date(2000, 1, 1)),
                                 f"dependency.{i}.input ({d.upstream} -> {d.downstream})")
    if problems:
        raise ScheduleFileError(f"{path}: " + "; ".join(problems))
    return parsed


def _check_input(known: dict[str, type[BaseModel]], workflow: str, value: dict, where: str) -> list[str]:
    model = known.get(workflow)
    if model is None:
        return []
    try:
        model.model_validate(value)
    except ValidationError as e:
        return [f"{where}.{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in e.errors()]
    return []


def downstream_input(dep: DependencySpec, upstream: Any) -> dict[str, Any]:
    """The downstream's input: declared input, the upstream's date, and (when its input model has an
    ``upstream`` field) the upstream run and result; an unknown type gets run_date only."""
    value = dep.input_for(upstream.run_date)
    model = _known_inputs().get(dep.downstream)
    if model is not None and "upstream" in model.model_fields:
        value["upstream"] = upstream.model_dump(mode="json")
    return value


def _hash(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def schedule_hash(spec: ScheduleSpec, task_queue: str) -> str:
    """What apply compares: the spec as written plus the queue it resolves to."""
    return _hash({**spec.model_dump(mode="json"), "task_queue": task_queue})
