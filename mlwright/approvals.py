"""Who may approve which model: an allowlist per model-name pattern, and no self-approval.

The policy is a TOML file (``MLWRIGHT_APPROVAL_POLICY_FILE``, example in
deploy/approval-policy.example.toml). Every evaluation names the rule that decided, so a refusal
tells the approver which line of the policy to take up with its owner.

The identity evaluated here is whatever the caller asserts; production derives it from an
authenticated source (deploy/README.md, Approvals) rather than trusting the JSON field.
"""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ApprovalRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    models: str = Field(min_length=1, description="fnmatch pattern of model names, e.g. 'readmission-*'.")
    approvers: tuple[str, ...] = Field(min_length=1, description="Identities allowed to approve them.")


class ApprovalPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    forbid_self_approval: bool = True
    rules: tuple[ApprovalRule, ...] = ()


class ApprovalVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    allowed: bool
    rule: str = Field(description="Which part of the policy decided, e.g. 'rules[0] models=readmission-*'.")
    reason: str


class ApprovalPolicyError(ValueError):
    """The policy file is missing or malformed; the message names the file and field."""


def load_policy(path: Path) -> ApprovalPolicy:
    try:
        raw = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ApprovalPolicyError(f"MLWRIGHT_APPROVAL_POLICY_FILE={str(path)!r} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ApprovalPolicyError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return ApprovalPolicy.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ApprovalPolicyError(f"{path}: {field}: {first['msg']}") from None


def evaluate(policy: ApprovalPolicy, *, identity: str, model_name: str, requested_by: str | None) -> ApprovalVerdict:
    """Allowed only if the first rule matching the model lists the identity (and it is not the requester)."""
    identity = identity.strip()
    if not identity:
        return ApprovalVerdict(allowed=False, rule="identity", reason="an approval must name who approves")
    if policy.forbid_self_approval and requested_by and identity == requested_by.strip():
        return ApprovalVerdict(allowed=False, rule="forbid_self_approval",
                               reason=f"{identity} started this training run and cannot approve its own candidate")
    for index, rule in enumerate(policy.rules):
        if fnmatch.fnmatchcase(model_name, rule.models):
            name = f"rules[{index}] models={rule.models}"
            if identity in rule.approvers:
                return ApprovalVerdict(allowed=True, rule=name, reason=f"{identity} is an approver of {rule.models}")
            return ApprovalVerdict(allowed=False, rule=name,
                                   reason=f"{identity} is not an approver of {rule.models}")
    return ApprovalVerdict(allowed=False, rule="no matching rule",
                           reason=f"no rule of the approval policy covers model {model_name}")
