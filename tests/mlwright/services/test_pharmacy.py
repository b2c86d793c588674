"""The pharmacy API over real HTTP on loopback: paging, as-of semantics, and re-seeding."""

from __future__ import annotations

import os
from datetime import date

import httpx
import pytest

from mlwright.patient_risk import sources, synthetic
from mlwright.services import pharmacy


def fetch_all(url: str, as_of: str) -> tuple[list[dict], int]:
    fills, token, pages = [], "0", 0
    while token is not None:
        params = {"as_of": as_of, "page_token": token, "page_size": 500}
        body = httpx.get(f"{url}/fills", params=params).json()
        fills += body["fills"]
        token, pages = body["next_page_token"], pages + 1
    return fills, pages


def test_pages_cover_the_window_once_and_reseeding_is_picked_up(tmp_path):
    where = sources.SourceLocations.under(tmp_path)
    sources.seed(synthetic.generate(300, 1, date(2026, 11, 27)), where)
    with pharmacy.serve(where.pharmacy_file) as server:
        fills, pages = fetch_all(server.url, "2026-11-27")
        assert pages > 1 and len({f["fill_id"] for f in fills}) == len(fills)
        assert all(f["recorded_date"] <= "2026-11-27" for f in fills)
        earlier, _ = fetch_all(server.url, "2026-11-20")  # late records are not yet visible
        assert len(earlier) < len(fills)

        sources.seed(synthetic.generate(900, 1, date(2026, 11, 27)), where)
        os.utime(where.pharmacy_file, ns=(1, os.stat(where.pharmacy_file).st_mtime_ns + 1))
        reseeded, _ = fetch_all(server.url, "2026-11-27")
        assert len(reseeded) > 2 * len(fills)
        assert httpx.get(f"{server.url}/fills").status_code == 400  # as_of is required


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    where = sources.SourceLocations.under(tmp_path_factory.mktemp("pharmacy"))
    sources.seed(synthetic.generate(100, 1, date(2026, 11, 27)), where)
    with pharmacy.serve(where.pharmacy_file) as server:
        yield server.url


@pytest.mark.parametrize(("params", "named"), [
    ({"as_of": "zzzz"}, "as_of"),
    ({"as_of": "2026-02-30"}, "as_of"),
    ({"as_of": ""}, "as_of"),
    ({"as_of": "2026-11-27", "since": "yesterday"}, "since"),
    ({"as_of": "2026-11-27", "page_size": "-5"}, "page_size"),
    ({"as_of": "2026-11-27", "page_size": "0"}, "page_size"),
    ({"as_of": "2026-11-27", "page_size": str(pharmacy.MAX_PAGE + 1)}, "page_size"),
    ({"as_of": "2026-11-27", "page_size": "abc"}, "page_size"),
    ({"as_of": "2026-11-27", "page_token": "-1"}, "page_token"),
    ({"as_of": "2026-11-27", "pagesize": "5"}, "pagesize"),
])
def test_bad_parameters_are_refused_naming_the_parameter(seeded, params, named):
    reply = httpx.get(f"{seeded}/fills", params=params)
    assert reply.status_code == 400 and reply.json()["parameter"] == named and named in reply.json()["error"]


def test_a_body_or_another_method_is_refused(seeded):
    assert httpx.request("GET", f"{seeded}/fills?as_of=2026-11-27", content=b"{}").status_code == 413
    assert httpx.post(f"{seeded}/fills?as_of=2026-11-27", content=b"").status_code == 405


def test_pages_hold_the_values_to_dict_gives():
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame({"s": pd.array(["x", None, "z"], dtype="str"), "n": [1, 2, 3], "f": [1.5, np.nan, 2.0],
                          "i": pd.array([1, None, 3], dtype="Int64"), "c": pd.Categorical(["u", "v", None])})
    assert repr(pharmacy._records(frame)) == repr(frame.to_dict(orient="records"))
    assert pharmacy._records(frame.iloc[0:0]) == []


def test_a_page_encodes_to_the_values_json_dumps_of_its_records_decodes_to():
    import json

    import numpy as np
    import pandas as pd

    exact = pd.DataFrame({"s": pd.array(["a/b", "Ünï \"q\"", "\u2028"], dtype="str"), "n": [1, -2, 2**62],
                          "b": [True, False, True]})
    lossy = exact.assign(f=[0.1, 1 / 3, np.nan])  # floats and NaN take the slower exact path
    with_missing = exact.assign(s=pd.array(["x", None, "z"], dtype="str"))
    for frame in (exact, lossy, with_missing, exact.iloc[0:0]):
        assert repr(json.loads(pharmacy._records_json(frame))) == repr(json.loads(json.dumps(pharmacy._records(frame))))
    assert " " not in pharmacy._records_json(exact.drop(columns="s"))  # the fast encoder wrote it
