"""Quality reports, kept whether the gate passed or failed, one per run."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from mlwright.store.tables import QualityReportRecord


def save_quality_report(
    session: Session, *, run_key: str, passed: bool, data_sha256: str, report: dict[str, Any]
) -> QualityReportRecord:
    existing = session.exec(select(QualityReportRecord).where(QualityReportRecord.run_key == run_key)).first()
    if existing is not None:
        return existing
    row = QualityReportRecord(run_key=run_key, passed=passed, data_sha256=data_sha256, report=report)
    session.add(row)
    session.flush()
    return row


def get_quality_report(session: Session, *, run_key: str) -> QualityReportRecord | None:
    return session.exec(select(QualityReportRecord).where(QualityReportRecord.run_key == run_key)).first()
