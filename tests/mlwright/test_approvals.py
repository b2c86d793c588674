"""Approval policy: who may approve which model, self-approval, and the audit rows it leaves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mlwright.approvals import ApprovalPolicyError, evaluate, load_policy
from mlwright.store import approvals as audit_store
from mlwright.store.db import init_db, make_engine, session_scope

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "approval-policy.example.toml"


@pytest.fixture
def policy():
    return load_policy(EXAMPLE)


def test_listed_approver_of_a_matching_rule_is_allowed(policy):
    verdict = evaluate(policy, identity="dr.chen@example.org", model_name="readmission-30d", requested_by="ana")
    assert verdict.allowed and verdict.rule == "rules[0] models=readmission-*"


def test_unlisted_identity_is_refused_naming_the_rule(policy):
    verdict = evaluate(policy, identity="mallory", model_name="readmission-30d", requested_by="ana")
    assert not verdict.allowed
    assert verdict.rule == "rules[0] models=readmission-*"
    assert "mallory is not an approver of readmission-*" in verdict.reason


def test_first_matching_rule_decides(policy):
    # dr.chen approves readmission models only; other models fall to the catch-all rule.
    verdict = evaluate(policy, identity="dr.chen@example.org", model_name="sepsis-risk", requested_by=None)
    assert not verdict.allowed and verdict.rule == "rules[1] models=*"


def test_whoever_started_the_run_cannot_approve_its_candidate(policy):
    verdict = evaluate(policy, identity="dr.chen@example.org", model_name="readmission-30d",
                       requested_by="dr.chen@example.org")
    assert not verdict.allowed and verdict.rule == "forbid_self_approval"


def test_no_rule_and_no_identity_are_refused(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[[rules]]\nmodels = "a-*"\napprovers = ["x"]\n')
    policy = load_policy(path)
    assert evaluate(policy, identity="x", model_name="b", requested_by=None).rule == "no matching rule"
    assert evaluate(policy, identity="  ", model_name="a-1", requested_by=None).rule == "identity"


def test_malformed_policy_names_the_file_and_field(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('[[rules]]\nmodels = "a-*"\napprovers = []\n')
    with pytest.raises(ApprovalPolicyError, match=r"p.toml: rules\.0\.approvers"):
        load_policy(path)
    with pytest.raises(ApprovalPolicyError, match="does not exist"):
        load_policy(tmp_path / "missing.toml")


def test_every_decision_lands_once_in_the_audit_and_the_cli_shows_it(tmp_path, policy):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    init_db(engine)
    refused = evaluate(policy, identity="mallory", model_name="readmission-30d", requested_by="ana")
    allowed = evaluate(policy, identity="dr.chen@example.org", model_name="readmission-30d", requested_by="ana")
    with session_scope(engine) as s:
        audit_store.record_decision(s, model_name="readmission-30d", version=3, identity="mallory",
                                    decision="approve", verdict=refused, idempotency_key="run-1/approve/1")
        # A retried write of the same decision finds its row.
        audit_store.record_decision(s, model_name="readmission-30d", version=3, identity="mallory",
                                    decision="approve", verdict=refused, idempotency_key="run-1/approve/1")
        audit_store.record_decision(s, model_name="readmission-30d", version=3, identity="dr.chen@example.org",
                                    decision="approve", verdict=allowed, idempotency_key="run-1/approve/2")
    with session_scope(engine) as s:
        rows = audit_store.audit(s, model_name="readmission-30d")
    assert [(r.identity, r.allowed, r.rule) for r in rows] == [
        ("mallory", False, "rules[0] models=readmission-*"),
        ("dr.chen@example.org", True, "rules[0] models=readmission-*"),
    ]
    engine.dispose()
    out = subprocess.run([sys.executable, "-m", "mlwright.cli", "registry", "readmission-30d", "--audit"],
                         env={"MLWRIGHT_DATABASE_URL": url, "MLWRIGHT_HOME": str(tmp_path / "home"),
                              "PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert "REFUSED  by mallory [rules[0] models=readmission-*]" in out
    assert "accepted by dr.chen@example.org" in out
