"""Contracts of explicit cross-pipeline dependencies (`[[dependency]]` in the schedules file)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from mlwright.contracts.common import Contract


class UpstreamRun(Contract):
    """The run whose completion started this one, and what it produced (counts and refs only)."""

    workflow_type: str = Field(description="e.g. FeaturePipeline.")
    workflow_id: str
    run_id: str = Field(description="First run id of the upstream execution chain.")
    run_date: date = Field(description="The date both runs are for.")
    result: dict[str, Any] = Field(default_factory=dict, description="The upstream's summary of its result.")


class DownstreamQuery(Contract):
    """Input of find_downstream: an upstream run has completed for a date."""

    upstream: UpstreamRun
    task_queue_prefix: str = Field("", description="The deployment's prefix; it prefixes downstream ids.")


class DownstreamStart(Contract):
    workflow_type: str
    workflow_id: str = Field(description="<prefix><downstream>-<date>: one run per date, whoever completes.")
    input: dict[str, Any] = Field(description="The downstream's JSON input (declared input + run_date).")


class DownstreamPlan(Contract):
    """Output of find_downstream: the runs to start, in a stable order."""

    starts: list[DownstreamStart] = Field(default_factory=list)
