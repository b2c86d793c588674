"""Alert bookkeeping on SQLite and PostgreSQL: claimed once, sent once."""

from __future__ import annotations

from mlwright.store import runs
from mlwright.store.db import session_scope


def test_alerts_are_claimed_once_and_only_unsent_ones_remain_pending(engine, monkeypatch):
    monkeypatch.setattr(runs, "_IN_CHUNK", 3)  # several IN-lists
    wanted = [(f"k{i}", "warning", {"i": i}) for i in range(8)]
    with session_scope(engine) as s:
        rows = runs.claim_alerts(s, kind="high_risk_patient", run_date="2026-11-27", wanted=wanted)
        assert [r.dedup_key for r in rows] == [k for k, _, _ in wanted]
        runs.mark_sent(s, dedup_keys=["k0", "k1", "k5"])
    with session_scope(engine) as s:
        again = runs.claim_alerts(s, kind="high_risk_patient", run_date="2026-11-27",
                                  wanted=[*wanted, ("k8", "critical", {})])
        assert sorted(r.dedup_key for r in again if r.sent_at is None) == ["k2", "k3", "k4", "k6", "k7", "k8"]
        assert len(runs.alerts_for(s, run_date="2026-11-27")) == 9
