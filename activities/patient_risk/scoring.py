"""Steps 13-17: three chained models from the registry, business rules, prediction checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
from temporalio import activity

from activities.patient_risk.deps import PatientRiskDeps
from mlwright import serving
from mlwright.contracts import patient_risk as c
from mlwright.errors import DataQualityFailed, InvalidInput, ModelNotFound
from mlwright.patient_risk.rules import RuleBook, apply_rules
from mlwright.steps.patient_risk import BY_NAME
from mlwright.store import runs
from mlwright.store.db import session_scope

SCORE_COLUMNS = ("readmission", "deterioration", "acuity")


class ScoringActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps
        self.store = deps.base.artifacts

    def _score(self, inp: c.ScoreInput) -> c.Predictions:
        served = serving.load_stage(self.deps.base.engine, self.store, inp.model_name, "production")
        if served is None:
            raise ModelNotFound(f"model {inp.model_name!r} has no production version; train and promote it "
                                "(`mlwright patient-risk bootstrap`)", model_name=inp.model_name)
        table = self.store.get_frame(inp.features.data).set_index("patient_id")
        upstream = self.store.get_frame(inp.upstream.data).set_index("patient_id") if inp.upstream else None
        if upstream is not None:
            clash = sorted(set(upstream.columns) & set(table.columns))
            if clash:
                raise InvalidInput("upstream", f"upstream scores {clash} share names with features")
            # Added as columns, not joined: a join copies the million rows' 47 features once more.
            # Assignment aligns on the patient id, as the join did.
            table = table.assign(**{column: upstream[column] for column in upstream.columns})
        scores = pd.Series(np.round(served.positive_probability(table), 6), index=table.index)
        out = (upstream if upstream is not None else pd.DataFrame(index=table.index)).copy()
        out[inp.column] = scores  # by patient id, whatever order upstream lists them in
        versions = inp.upstream.model_versions if inp.upstream else {}
        activity.logger.info("%s v%s scored %s patients (mean %.3f)", inp.model_name, served.version.version, len(out),
                             scores.mean())
        return c.Predictions(data=self.store.put_frame(out.reset_index()),
                             model_versions={**versions, inp.model_name: served.version.version})

    @BY_NAME["model_readmission"].defn
    def model_readmission(self, inp: c.ScoreInput) -> c.Predictions:
        """Model 1 on the 47 features (production version from the registry)."""
        return self._score(inp)

    @BY_NAME["model_deterioration"].defn
    def model_deterioration(self, inp: c.ScoreInput) -> c.Predictions:
        """Model 2 on the features plus model 1's readmission risk."""
        return self._score(inp)

    @BY_NAME["model_acuity"].defn
    def model_acuity(self, inp: c.ScoreInput) -> c.Predictions:
        """Model 3 on the features plus models 1 and 2."""
        return self._score(inp)

    @BY_NAME["apply_business_rules"].defn
    def apply_business_rules(self, inp: c.RulesInput) -> c.RiskTable:
        """Combined score, tiers, and rule overrides (each recorded with its rule)."""
        book = RuleBook.load(self.deps.settings.business_rules_file)
        scores = self.store.get_frame(inp.predictions.data).set_index("patient_id")
        features = self.store.get_frame(inp.features.data).set_index("patient_id")
        risk, overrides = apply_rules(scores[list(SCORE_COLUMNS)], features, book)
        tiers = {t: int(n) for t, n in risk["tier"].value_counts().items()}
        activity.logger.info("tiers %s; %s rule overrides", tiers, len(overrides))
        return c.RiskTable(data=self.store.put_frame(risk.reset_index()), model_versions=inp.predictions.model_versions,
                           tiers=tiers, overrides=len(overrides), overrides_ref=self.store.put_frame(overrides))

    @BY_NAME["validate_predictions"].defn
    def validate_predictions(self, inp: c.RiskInput) -> c.PredictionReport:
        """Ranges, one row per patient, and the score distribution against the last run."""
        risk = self.store.get_frame(inp.risk.data)
        probabilities = risk[list(SCORE_COLUMNS)]
        if probabilities.isna().any().any() or ((probabilities < 0) | (probabilities > 1)).any().any():
            raise DataQualityFailed("predictions outside [0, 1] or missing", check="range")
        if risk["patient_id"].duplicated().any():
            raise DataQualityFailed("more than one prediction for a patient", check="one_per_patient")
        mean, high = float(risk["score"].mean()), float((risk["tier"] == "high").mean())
        with session_scope(self.deps.base.engine) as session:
            previous = runs.previous_stats(session, run_date=inp.run.run_date, run_key=inp.run.key("features"))
            runs.set_mean_score(session, run_key=inp.run.key("features"), mean_score=mean)
            before = previous.mean_score if previous else None
        options = BY_NAME["validate_predictions"].options_of(inp)
        shift_limit, high_limit = options.max_mean_shift, options.max_high_share
        if before is not None and abs(mean - before) > shift_limit:
            raise DataQualityFailed(f"mean score moved {mean - before:+.3f} since the last run (limit {shift_limit})",
                                    check="distribution_shift")
        if high > high_limit:
            raise DataQualityFailed(f"{high:.0%} of patients in the high tier (limit {high_limit:.0%})",
                                    check="high_tier_share")
        return c.PredictionReport(mean_score=round(mean, 6), previous_mean_score=before, high_share=round(high, 6))
