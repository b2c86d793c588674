"""extract_pharmacy against the pharmacy API on loopback: every fill of the window once, in order,
whatever the page size; a pager that repeats itself is refused, not followed."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pandas as pd
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.sources import SourceActivities
from mlwright.contracts import patient_risk as c
from mlwright.patient_risk import sources, synthetic
from mlwright.services import pharmacy
from mlwright.services.http import JsonServer

DAY = date(2026, 11, 27)


@pytest.fixture
def fills_file(tmp_path):
    where = sources.SourceLocations.under(tmp_path)
    sources.seed(synthetic.generate(400, 2, DAY), where)
    return where.pharmacy_file


def extract(deps, settings, url: str, page_size: int) -> pd.DataFrame:
    steps = SourceActivities(PatientRiskDeps.build(deps, settings.model_copy(update={"pharmacy_url": url})))
    inp = c.StepInput(run=c.RunRef(workflow_id="wf", run_id="r", run_date=DAY.isoformat()),
                      options={"page_size": page_size})
    snapshot = ActivityEnvironment().run(steps.extract_pharmacy, inp)
    return deps.artifacts.get_frame(snapshot.tables["fills"])


@pytest.mark.parametrize("page_size", [7, 10_000])
def test_every_fill_of_the_window_once_in_order(deps, settings, fills_file, page_size):
    api = pharmacy.PharmacyApi(fills_file)
    since = (DAY - timedelta(days=sources.FILL_WINDOW_DAYS)).isoformat()
    _, whole = api.handle("GET", "/fills", {"as_of": DAY.isoformat(), "since": since, "page_size": "10000"}, None)
    with pharmacy.serve(fills_file) as server:
        frame = extract(deps, settings, server.url, page_size)
    expected = pd.DataFrame((json.loads(whole) if isinstance(whole, bytes | str) else whole)["fills"])
    assert len(expected) > 100 and len(expected) < 10_000  # several pages of 7, one of 10,000
    assert frame.equals(expected)


def test_a_pager_that_returns_a_token_it_already_gave_is_refused(deps, settings):
    asked = []

    def looping(_method, _path, query, _body):
        asked.append(query["page_token"])
        return 200, {"fills": [{"fill_id": f"F{len(asked)}", "patient_id": "P1"}], "total": 99,
                     "next_page_token": "1"}

    with JsonServer(looping) as server, pytest.raises(ApplicationError, match="paging makes no progress") as e:
        extract(deps, settings, server.url, 5)
    assert e.value.type == "InvalidInput" and "sources.pharmacy" in str(e.value)
    assert asked == ["0", "1"]  # the repeat is refused before it is asked for again


@pytest.mark.parametrize("records", [
    [],
    [{"fill_id": "F1", "days_supply": 30}, {"days_supply": 60, "fill_id": "F2"}],  # same fields, any order
    [{"fill_id": "F1", "days_supply": 30}, {"fill_id": "F2", "days_supply": None}],
    [{"fill_id": "F1", "days_supply": 30}, {"fill_id": "F2"}],  # a field missing
    [{"fill_id": "F1"}, {"fill_id": "F2", "extra": 1}],  # a field added
    [{"days_supply": 1.5}, {"days_supply": 2}],
])
def test_a_page_becomes_the_frame_pandas_builds_from_its_records(records):
    from activities.patient_risk.sources import _frame

    expected, built = pd.DataFrame(records), _frame(records, page=1)
    assert list(built.columns) == list(expected.columns) and list(built.dtypes) == list(expected.dtypes)
    pd.testing.assert_frame_equal(built, expected)


@pytest.mark.parametrize(("fills", "named"), [({"F1": 1}, "page 3: fills is not a list"),
                                              ([{"fill_id": "F1"}, "F2"], r"page 3: fills\[1\] is not an object")])
def test_a_page_that_is_not_a_list_of_objects_is_refused_naming_it(fills, named):
    from activities.patient_risk.sources import _frame
    from mlwright.errors import InvalidInput

    with pytest.raises(InvalidInput, match=f"sources.pharmacy: {named}"):
        _frame(fills, page=3)
