"""The promotion slot: at most one TrainingPipeline run per model moves stages at a time.

Concurrent runs of one model used to overwrite each other's staging and canary, so one run's
integration tests and canary check judged another run's version. Now a run holds its model's
*promotion slot* from the comparison with production until it promotes, rolls back or ends.

Why a queue of claims in the registry database, and not a lock workflow or a lease:

- **Compare-and-set where the stages live.** A stage change that requires the slot checks the
  claim in the same transaction as the write (``registry.set_stage(..., holder=...)``), so even
  a run that wrongly believes it holds the slot cannot move a stage. A lock workflow could only
  grant permission; it could not stop a write that arrives late.
- **Durable and crash-proof.** Claims are rows: a worker crash or a server restart changes
  nothing; the run carries on where it was, still holding (or waiting for) its slot.
- **Owned by the run, not by a process.** A claim names the run (workflow id and first run id).
  The holder releases it in a ``finally`` when it ends in any way its code sees (decision,
  failure, cancellation). A run that ends without running code (terminated, timed out) leaves
  its claim; the run next in line, after ``promotion_slot_poll_s`` without news, probes the
  holder with a signal, and Temporal refuses to signal a closed run: the claim is then dropped.
  A lease would need renewing during a 72-hour approval wait; a probe costs nothing while the
  holder lives.
- **First come, first served.** The slot belongs to the oldest claim; the others wait in claim
  order (visible in the ``status`` query as "waiting for the promotion slot of M held by W").
  On release the holder signals the next run at once, so a handover takes one signal, not a poll.

Because the comparison with production happens only once the slot is held, a candidate is always
compared with the production version it would replace: a candidate that no longer beats a newer
production ends ``not_improved`` instead of going ahead.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mlwright.errors import MlwrightError
from mlwright.store.tables import PromotionClaim


class PromotionSlotNotHeld(MlwrightError):
    """A stage change by a run that does not hold its model's promotion slot: never retried."""

    error_type = "PromotionSlotNotHeld"


def claim(session: Session, *, model_name: str, workflow_id: str, run_id: str) -> list[PromotionClaim]:
    """Join the model's queue (idempotent); returns the queue, oldest first, this run's claim included."""
    lock_model(session, model_name)
    if _find(session, model_name, workflow_id, run_id) is None:
        try:
            with session.begin_nested():
                session.add(PromotionClaim(model_name=model_name, workflow_id=workflow_id, run_id=run_id))
        except IntegrityError:
            pass  # a concurrent retry of the same claim got there first
    return queue(session, model_name=model_name)


def queue(session: Session, *, model_name: str) -> list[PromotionClaim]:
    return list(session.exec(
        select(PromotionClaim).where(PromotionClaim.model_name == model_name).order_by(PromotionClaim.id)))


def holder(session: Session, *, model_name: str) -> PromotionClaim | None:
    waiting = queue(session, model_name=model_name)
    return waiting[0] if waiting else None


def release(session: Session, *, model_name: str, workflow_id: str, run_id: str) -> PromotionClaim | None:
    """Drop this run's claim (idempotent); returns the claim that now holds the slot, if any."""
    lock_model(session, model_name)
    mine = _find(session, model_name, workflow_id, run_id)
    if mine is not None:
        session.delete(mine)
        session.flush()
    return holder(session, model_name=model_name)


def require_holder(session: Session, *, model_name: str, workflow_id: str, run_id: str) -> None:
    lock_model(session, model_name)
    first = holder(session, model_name=model_name)
    if first is None or (first.workflow_id, first.run_id) != (workflow_id, run_id):
        held_by = f"held by {first.workflow_id}" if first else "not held"
        raise PromotionSlotNotHeld(
            f"run {workflow_id} does not hold the promotion slot of {model_name} ({held_by}); "
            "its stage change was refused", model_name=model_name)


def lock_model(session: Session, model_name: str) -> None:
    # Optimistic retries starve under many concurrent writes to one model (registrations, claims,
    # slot-checked stage changes); PostgreSQL serialises them with a lock held until the transaction
    # ends. SQLite serialises all writers already.
    if session.get_bind().dialect.name == "postgresql":
        session.exec(text("SELECT pg_advisory_xact_lock(hashtext(:name))").bindparams(name=model_name))


def _find(session: Session, model_name: str, workflow_id: str, run_id: str) -> PromotionClaim | None:
    return session.exec(select(PromotionClaim).where(
        PromotionClaim.model_name == model_name, PromotionClaim.workflow_id == workflow_id,
        PromotionClaim.run_id == run_id)).first()
