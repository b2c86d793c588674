"""The approval policy on a real run: unlisted and self-approvals refused naming the rule, audited."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from temporalio.client import WorkflowUpdateFailedError

from activities.deps import ActivityDeps
from mlwright.contracts.training import ApprovalDecision, TrainingStatus
from mlwright.store import approvals as audit_store
from mlwright.store.db import session_scope
from tests.conftest import running_workers
from tests.workflows.test_training_pipeline import start, training_input
from tests.workflows.waiting import wait_for_status

POLICY = Path(__file__).resolve().parents[2] / "deploy" / "approval-policy.example.toml"


@pytest.fixture
def policy_settings(settings, tmp_path):
    path = tmp_path / "policy.toml"
    shutil.copy(POLICY, path)
    return settings.model_copy(update={"approval_policy_file": path})


async def test_policy_refuses_unlisted_and_self_approval_and_audits_every_decision(
        dev_env, policy_settings, breast_cancer_csv):
    deps = ActivityDeps.from_settings(policy_settings)
    async with running_workers(dev_env.client, policy_settings, deps) as queues:
        inp = training_input(breast_cancer_csv, model_name="readmission-30d", requested_by="dr.chen@example.org")
        handle = await start(dev_env.client, queues, inp)
        await wait_for_status(handle, lambda s: s.awaiting_approval)

        with pytest.raises(WorkflowUpdateFailedError) as unlisted:
            await handle.execute_update("approve", ApprovalDecision(approver="mallory"))
        assert unlisted.value.cause.type == "ApprovalRefused" and unlisted.value.cause.non_retryable
        assert "rule rules[0] models=readmission-*" in unlisted.value.cause.message
        with pytest.raises(WorkflowUpdateFailedError) as self_approval:
            await handle.execute_update("approve", ApprovalDecision(approver="dr.chen@example.org"))
        assert "rule forbid_self_approval" in self_approval.value.cause.message
        # A Signal cannot be refused to its sender: it is refused in `status` and audited the same way.
        await handle.signal("approve", ApprovalDecision(approver="eve"))
        status = await wait_for_status(handle, lambda s: bool(s.refused))
        assert status.awaiting_approval
        assert status.refused[0].refusal.startswith("refused by approval policy rule rules[0] models=readmission-*")

        reply = await handle.execute_update("approve", ApprovalDecision(approver="ml-governance@example.org"),
                                            result_type=TrainingStatus)
        assert not reply.awaiting_approval
        result = await handle.result()

    assert result.decision == "promoted" and result.decided_by == "ml-governance@example.org"
    with session_scope(deps.engine) as session:
        rows = [(r.identity, r.decision, r.allowed, r.rule, r.version)
                for r in audit_store.audit(session, model_name="readmission-30d")]
    assert rows == [
        ("mallory", "approve", False, "rules[0] models=readmission-*", 1),
        ("dr.chen@example.org", "approve", False, "forbid_self_approval", 1),
        ("eve", "approve", False, "rules[0] models=readmission-*", 1),
        ("ml-governance@example.org", "approve", True, "rules[0] models=readmission-*", 1),
    ]
