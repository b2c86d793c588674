"""The approval audit table: one row per decision, written once even when the write is retried."""

from __future__ import annotations

from sqlmodel import Session, select

from mlwright.approvals import ApprovalVerdict
from mlwright.store.tables import ApprovalAudit


def record_decision(session: Session, *, model_name: str, version: int | None, identity: str, decision: str,
                    verdict: ApprovalVerdict, idempotency_key: str) -> ApprovalAudit:
    existing = session.exec(select(ApprovalAudit).where(ApprovalAudit.idempotency_key == idempotency_key)).first()
    if existing is not None:
        return existing
    row = ApprovalAudit(model_name=model_name, version=version, identity=identity, decision=decision,
                        allowed=verdict.allowed, rule=verdict.rule, reason=verdict.reason,
                        idempotency_key=idempotency_key)
    session.add(row)
    session.flush()
    return row


def audit(session: Session, *, model_name: str) -> list[ApprovalAudit]:
    return list(session.exec(select(ApprovalAudit).where(ApprovalAudit.model_name == model_name)
                             .order_by(ApprovalAudit.at, ApprovalAudit.id)))
