"""merge_by_patient: orphan rows dropped and counted, a table without orphans passed on as it is."""

from __future__ import annotations

import pandas as pd
from temporalio.testing import ActivityEnvironment

from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.preparation import EVENT_TABLES, PreparationActivities
from mlwright.contracts import patient_risk as c

RUN = c.RunRef(workflow_id="wf", run_id="r", run_date="2026-03-10")


def test_orphans_are_dropped_and_counted_and_clean_tables_pass_through(deps, settings):
    store = deps.artifacts
    patients = pd.DataFrame({"patient_id": ["P1", "P2", "P3"], "age": [50, 60, 70]})
    frames = {name: pd.DataFrame({"patient_id": ["P1", "P2"], "value": [1, 2]}) for name in EVENT_TABLES}
    frames["labs"] = pd.DataFrame({"patient_id": ["P1", "X9", "P3", "X8"], "value": [1.0, 2.0, 3.0, 4.0]})
    refs = {"patients": store.put_frame(patients), **{n: store.put_frame(f) for n, f in frames.items()}}
    sources = [c.ValidatedSource.model_construct(source="all", tables=refs, report=None)]
    steps = PreparationActivities(PatientRiskDeps.build(deps, settings))
    whole_reads, get_frame = [], store.get_frame

    def reading(ref, columns=None):  # the real store, watched: which tables are read whole
        if columns is None:
            whole_reads.append(next(n for n, r in refs.items() if r == ref))
        return get_frame(ref, columns)

    steps.store.get_frame = reading

    merged = ActivityEnvironment().run(steps.merge_by_patient, c.MergeInput.model_construct(run=RUN, options={},
                                                                                             sources=sources))

    assert merged.patients == 3 and merged.orphans == {**{n: 0.0 for n in EVENT_TABLES}, "labs": 0.5}
    labs = get_frame(merged.tables["labs"])
    assert labs.to_dict("list") == {"patient_id": ["P1", "P3"], "value": [1.0, 3.0]}
    # Nothing to drop: the very same artifact, not a copy, for every other table.
    assert all(merged.tables[n] == refs[n] for n in ("patients", "encounters", "diagnoses", "claims", "fills"))
    assert whole_reads == ["labs"]  # a table is read whole only to drop its orphans
    assert get_frame(merged.tables["claims"]).equals(frames["claims"])
