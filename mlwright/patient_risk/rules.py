"""Business rules: the combined score, tiers, and overrides from a TOML file."""

from __future__ import annotations

import operator
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlwright.errors import InvalidInput

TIERS = ("low", "medium", "high")
_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}


@dataclass(frozen=True)
class Rule:
    name: str
    feature: str
    op: str
    value: float
    tier: str
    reason: str


@dataclass(frozen=True)
class RuleBook:
    weights: dict[str, float]
    high: float
    medium: float
    rules: tuple[Rule, ...]

    @classmethod
    def load(cls, path: Path) -> RuleBook:
        try:
            raw = tomllib.loads(path.read_text())
            rules = tuple(Rule(**r) for r in raw.get("rules", []))
            book = cls(weights=dict(raw["score"]), high=float(raw["tiers"]["high"]),
                       medium=float(raw["tiers"]["medium"]), rules=rules)
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
            raise InvalidInput("business_rules_file", f"{path}: {e}") from e
        for rule in rules:
            if rule.op not in _OPS or rule.tier not in TIERS:
                raise InvalidInput("business_rules_file", f"rule {rule.name!r}: op {rule.op!r} / tier {rule.tier!r}")
        if set(book.weights) != {"readmission", "deterioration", "acuity"}:
            raise InvalidInput("business_rules_file", "[score] needs readmission, deterioration, acuity weights")
        return book


def apply_rules(scores: pd.DataFrame, features: pd.DataFrame, book: RuleBook) -> tuple[pd.DataFrame, pd.DataFrame]:
    """scores: index patient_id, columns readmission/deterioration/acuity. Returns (tiers, overrides)."""
    combined = sum(scores[k] * w for k, w in book.weights.items())
    model_tier = np.where(combined >= book.high, "high", np.where(combined >= book.medium, "medium", "low"))
    out = scores.assign(score=combined.round(6), model_tier=model_tier, tier=model_tier, rules="")
    overrides = []
    for rule in book.rules:
        column = features[rule.feature].reindex(out.index)
        hit = _OPS[rule.op](column, rule.value).fillna(False).to_numpy()
        raise_tier = hit & (out["tier"].map(TIERS.index).to_numpy() < TIERS.index(rule.tier))
        for pid in out.index[raise_tier]:
            overrides.append({"patient_id": pid, "rule": rule.name, "from_tier": out.at[pid, "tier"],
                              "to_tier": rule.tier, "reason": rule.reason})
        out.loc[raise_tier, "tier"] = rule.tier
        out.loc[hit, "rules"] = out.loc[hit, "rules"].where(out.loc[hit, "rules"] == "",
                                                            out.loc[hit, "rules"] + ",") + rule.name
    return out, pd.DataFrame(overrides, columns=["patient_id", "rule", "from_tier", "to_tier", "reason"])
