"""Evaluation, champion/challenger comparison, integration tests on staging and the canary check.

All four are read-only (no side effects), so retries are always safe.
"""

from __future__ import annotations

import time

from temporalio import activity

from activities.deps import ActivityDeps
from mlwright import serving
from mlwright.contracts import training_steps as c
from mlwright.ml import metrics
from mlwright.steps import training as steps

SINGLE_ROW_LATENCY_BUDGET_S = 1.0


class EvaluationActivities:
    def __init__(self, deps: ActivityDeps) -> None:
        self.deps = deps

    @steps.EVALUATE.defn
    def evaluate_model(self, inp: c.EvaluateInput) -> c.Metrics:
        """Score the candidate on the held-out rows."""
        model = serving.load_artifact(self.deps.artifacts, inp.model)
        return c.Metrics(values=metrics.evaluate(model, self.deps.artifacts.get_frame(inp.test), inp.target, inp.task))

    @steps.COMPARE.defn
    def compare_with_production(self, inp: c.CompareInput) -> c.Comparison:
        """Score the production version on the candidate's test rows, so both face the same data."""
        served = self._stage(inp.model_name, "production")
        if served is None:
            return c.Comparison(production_version=None, production_metrics={}, improvement=None,
                                beats_production=True, detail="no production version yet: the first always registers")
        production = served.version
        test = self.deps.artifacts.get_frame(inp.test)
        try:
            incumbent = metrics.evaluate(served.pipeline, test, inp.target, inp.task)
            source = "re-scored on the candidate's test rows"
        except (KeyError, ValueError) as e:
            # The production model expects other columns: its recorded metrics are all there is.
            activity.logger.warning("production v%s cannot score these rows (%s); using its recorded metrics",
                                    production.version, e)
            incumbent, source = dict(production.metrics), "recorded metrics (it cannot score these rows)"
        if inp.metric not in incumbent:
            return c.Comparison(production_version=production.version, production_metrics=incumbent,
                                improvement=None, beats_production=True,
                                detail=f"production has no {inp.metric}: the candidate registers")
        gain = metrics.improvement(inp.candidate.values[inp.metric], incumbent[inp.metric], inp.metric, inp.task)
        beats = gain >= inp.min_improvement
        detail = (f"{inp.metric} {inp.candidate.values[inp.metric]:.4f} vs production v{production.version} "
                  f"{incumbent[inp.metric]:.4f} ({source}); improvement {gain:+.4f}, needed {inp.min_improvement}")
        return c.Comparison(production_version=production.version, production_metrics=incumbent, improvement=gain,
                            beats_production=beats, detail=detail)

    @steps.INTEGRATION.defn
    def run_integration_tests(self, inp: c.IntegrationInput) -> c.IntegrationReport:
        """Load the model the way a server would (through the stage, hash-checked) and exercise it."""
        staged = self._stage(inp.model_name, inp.stage)
        held = staged.version.version if staged else None
        checks = [c.QualityCheck(name="stage_resolves", passed=held == inp.expected_version,
                                 detail=f"{inp.stage} holds v{held}, expected v{inp.expected_version}")]
        if not checks[0].passed:
            return c.IntegrationReport(passed=False, checks=checks)
        model = staged.pipeline
        test = self.deps.artifacts.get_frame(inp.test)
        for name, (ok, detail) in metrics.prediction_checks(model, test, inp.target, inp.task).items():
            checks.append(c.QualityCheck(name=name, passed=ok, detail=detail))
        rescored = metrics.evaluate(model, test, inp.target, inp.task)
        drift = max(abs(rescored[k] - v) for k, v in inp.expected_metrics.values.items())
        checks.append(c.QualityCheck(name="metrics_reproduce", passed=drift <= inp.tolerance, value=drift,
                                     threshold=inp.tolerance, detail="served model scores as evaluated"))
        started = time.perf_counter()
        model.predict(test.drop(columns=[inp.target]).head(1))
        latency = time.perf_counter() - started
        checks.append(c.QualityCheck(name="single_row_latency_s", passed=latency <= SINGLE_ROW_LATENCY_BUDGET_S,
                                     value=round(latency, 6), threshold=SINGLE_ROW_LATENCY_BUDGET_S))
        return c.IntegrationReport(passed=all(x.passed for x in checks), checks=checks)

    @steps.WATCH_CANARY.defn
    def evaluate_canary(self, inp: c.CanaryInput) -> c.CanaryReport:
        """Shadow-score canary and production on the same rows; healthy unless the canary regresses."""
        canary = self._stage(inp.model_name, "canary")
        production = self._stage(inp.model_name, "production")
        if canary is None:
            return c.CanaryReport(healthy=False, canary_version=None, production_version=_v(production),
                                  canary_metric=None, production_metric=None, detail="no canary is deployed")
        if inp.version is not None and canary.version.version != inp.version:
            # Judging another run's version would promote or roll back the wrong model.
            held = canary.version.version
            return c.CanaryReport(healthy=False, canary_version=held, production_version=_v(production),
                                  canary_metric=None, production_metric=None,
                                  detail=f"the canary holds v{held}, not this run's v{inp.version}")
        test = self.deps.artifacts.get_frame(inp.test)
        canary_score = metrics.evaluate(canary.pipeline, test, inp.target, inp.task)[inp.metric]
        if production is None:
            return c.CanaryReport(healthy=True, canary_version=canary.version.version, production_version=None,
                                  canary_metric=canary_score, production_metric=None,
                                  detail="no production version to regress against")
        prod_score = metrics.evaluate(production.pipeline, test, inp.target, inp.task)[inp.metric]
        gain = metrics.improvement(canary_score, prod_score, inp.metric, inp.task)
        healthy = gain >= -inp.max_regression
        return c.CanaryReport(healthy=healthy, canary_version=canary.version.version,
                              production_version=production.version.version,
                              canary_metric=canary_score, production_metric=prod_score,
                              detail=f"{inp.metric} canary {canary_score:.4f} vs production {prod_score:.4f} "
                                     f"({gain:+.4f}; allowed regression {inp.max_regression})")

    def _stage(self, model_name: str, stage: str) -> serving.StagedModel | None:
        return serving.load_stage(self.deps.engine, self.deps.artifacts, model_name, stage)


def _v(staged: serving.StagedModel | None) -> int | None:
    return staged.version.version if staged else None
