"""`mlwright registry MODEL --audit`: every approval decision, accepted or refused."""

from __future__ import annotations

from sqlalchemy import Engine

from mlwright.store import approvals
from mlwright.store.db import session_scope


def print_audit(engine: Engine, model_name: str) -> None:
    with session_scope(engine) as session:
        rows = approvals.audit(session, model_name=model_name)
    if not rows:
        print(f"no approval decisions recorded for {model_name!r}")  # noqa: T201
        return
    print(f"{model_name}: approval audit")  # noqa: T201
    for r in rows:
        version = f"v{r.version}" if r.version is not None else "-"
        outcome = "accepted" if r.allowed else "REFUSED"
        print(f"  {r.at:%Y-%m-%d %H:%M:%S} {version:<5} {r.decision:<8} {outcome:<8} by {r.identity}"  # noqa: T201
              f" [{r.rule}]: {r.reason}")
