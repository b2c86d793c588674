"""Model registry: versions, stages and the audit trail of stage changes.

Every write is idempotent: registering takes the producing run as a natural key, and a stage
change carries an idempotency key; calling either again returns what the first call did.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from mlwright.contracts.refs import ArtifactRef
from mlwright.errors import ModelNotFound
from mlwright.store import promotion
from mlwright.store.tables import ModelStage, ModelVersion, ModelVersionCreate, StageTransition, utcnow

_VERSION_RACE_RETRIES = 5
# The audit trail's entry for an approval that was refused: recorded, but no stage moved.
REFUSED = "refused"


def register_version(session: Session, *, data: ModelVersionCreate) -> ModelVersion:
    """Add the next version of ``data.model_name``, or return the one ``data.source_run`` made."""
    promotion.lock_model(session, data.model_name)
    for _ in range(_VERSION_RACE_RETRIES):
        existing = session.exec(
            select(ModelVersion).where(
                ModelVersion.model_name == data.model_name, ModelVersion.source_run == data.source_run
            )
        ).first()
        if existing is not None:
            return existing
        latest = session.exec(
            select(func.max(ModelVersion.version)).where(ModelVersion.model_name == data.model_name)
        ).one()
        row = ModelVersion.model_validate(data, update={"version": (latest or 0) + 1})
        try:
            with session.begin_nested():
                session.add(row)
            return row
        except IntegrityError:
            # Another process took this version number (or registered this run) in between.
            continue
    raise RuntimeError(f"could not allocate a version of {data.model_name} after {_VERSION_RACE_RETRIES} tries")


def get_version(session: Session, *, model_name: str, version: int) -> ModelVersion:
    row = session.exec(
        select(ModelVersion).where(ModelVersion.model_name == model_name, ModelVersion.version == version)
    ).first()
    if row is None:
        raise ModelNotFound(f"model {model_name!r} has no version {version}", model_name=model_name)
    return row


def list_versions(session: Session, *, model_name: str) -> list[ModelVersion]:
    return list(
        session.exec(select(ModelVersion).where(ModelVersion.model_name == model_name).order_by(ModelVersion.version))
    )


def artifact_of(row: ModelVersion) -> ArtifactRef:
    return ArtifactRef(uri=row.artifact_uri, sha256=row.artifact_sha256, size_bytes=row.artifact_size)


def stage_holder(session: Session, *, model_name: str, stage: str) -> ModelStage | None:
    return session.get(ModelStage, (model_name, stage))


def version_in_stage(session: Session, *, model_name: str, stage: str) -> ModelVersion | None:
    holder = stage_holder(session, model_name=model_name, stage=stage)
    if holder is None:
        return None
    return get_version(session, model_name=model_name, version=holder.version)


def set_stage(
    session: Session,
    *,
    model_name: str,
    version: int,
    stage: str,
    actor: str,
    reason: str,
    idempotency_key: str,
    traffic_fraction: float = 1.0,
    slot_holder: tuple[str, str] | None = None,
) -> StageTransition:
    """Put ``version`` in ``stage`` (or archive it) and record who did it and why.

    With ``slot_holder`` (workflow id, run id) the change is refused unless that run holds the
    model's promotion slot, checked in this transaction.
    """
    done = _transition(session, idempotency_key)
    if done is not None:
        return done
    if slot_holder is not None:
        promotion.require_holder(session, model_name=model_name, workflow_id=slot_holder[0],
                                 run_id=slot_holder[1])
    get_version(session, model_name=model_name, version=version)  # refuses unknown versions
    previous: int | None = None
    if stage != "archived":
        holder = stage_holder(session, model_name=model_name, stage=stage)
        previous = holder.version if holder else None
        if holder is None:
            holder = ModelStage(model_name=model_name, stage=stage, version=version)
        holder.version, holder.traffic_fraction, holder.updated_at = version, traffic_fraction, utcnow()
        session.add(holder)
    else:
        # Archiving a version also frees any stage it still holds.
        for holder in session.exec(
            select(ModelStage).where(ModelStage.model_name == model_name, ModelStage.version == version)
        ):
            session.delete(holder)
    return _record(session, model_name, version, previous, stage, traffic_fraction, actor, reason, idempotency_key)


def retire_stage(
    session: Session, *, model_name: str, stage: str, actor: str, reason: str, idempotency_key: str,
    slot_holder: tuple[str, str] | None = None,
) -> int | None:
    """Empty ``stage`` (e.g. end a canary); returns the version that held it.

    ``slot_holder``: as for set_stage.
    """
    done = _transition(session, idempotency_key)
    if done is not None:
        return done.previous_version
    if slot_holder is not None:
        promotion.require_holder(session, model_name=model_name, workflow_id=slot_holder[0],
                                 run_id=slot_holder[1])
    holder = stage_holder(session, model_name=model_name, stage=stage)
    previous = holder.version if holder else None
    if holder is not None:
        session.delete(holder)
    _record(session, model_name, None, previous, stage, None, actor, reason, idempotency_key)
    return previous


def record_refusal(
    session: Session, *, model_name: str, version: int | None, actor: str, reason: str, idempotency_key: str
) -> StageTransition:
    """File a refused approval in the audit trail (stage ``refused``); no stage changes."""
    done = _transition(session, idempotency_key)
    if done is not None:
        return done
    return _record(session, model_name, version, None, REFUSED, None, actor, reason, idempotency_key)


def transitions(session: Session, *, model_name: str) -> list[StageTransition]:
    return list(
        session.exec(
            select(StageTransition).where(StageTransition.model_name == model_name).order_by(StageTransition.id)
        )
    )


def _transition(session: Session, idempotency_key: str) -> StageTransition | None:
    return session.exec(select(StageTransition).where(StageTransition.idempotency_key == idempotency_key)).first()


def _record(session, model_name, version, previous, stage, fraction, actor, reason, key) -> StageTransition:
    row = StageTransition(
        model_name=model_name,
        version=version,
        previous_version=previous,
        stage=stage,
        traffic_fraction=fraction,
        actor=actor,
        reason=reason,
        idempotency_key=key,
    )
    session.add(row)
    session.flush()
    return row
