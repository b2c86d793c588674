"""The pharmacy system's API: `GET /fills?as_of=YYYY-MM-DD&since=YYYY-MM-DD&page_token=N&page_size=M`.

Returns fills *recorded* by ``as_of`` (late records appear in later pulls, as in the real system),
ordered by fill_id, a page at a time with an opaque ``next_page_token``. Every parameter is checked
(``as_of`` required; dates real YYYY-MM-DD days; ``page_size`` 1..MAX_PAGE; no unknown parameters):
a bad one is a 400 naming it, never a silently widened window.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from mlwright.services.http import HttpError, JsonServer, day_param, int_param, only

MAX_PAGE = 10_000
MAX_BODY = 0  # a GET API: no request carries a body


class PharmacyApi:
    def __init__(self, fills_file: Path) -> None:
        self.fills_file = fills_file
        self._fills: pd.DataFrame | None = None
        self._cached: tuple[tuple[str, str], pd.DataFrame] | None = None
        self._version: int | None = None

    def _data(self) -> pd.DataFrame:
        # Loaded on first use (the service starts before sources are seeded) and again whenever the
        # store file changes (`mlwright sources seed` while the service runs).
        version = self.fills_file.stat().st_mtime_ns
        if self._fills is None or self._version != version:
            fills = pd.read_parquet(self.fills_file)
            for column in ("fill_date", "recorded_date"):
                fills[column] = pd.to_datetime(fills[column]).dt.strftime("%Y-%m-%d")
            self._fills = fills.sort_values("fill_id").reset_index(drop=True)
            self._version, self._cached = version, None
        return self._fills

    def _window(self, as_of: str, since: str) -> pd.DataFrame:
        # One filtered window per query, reused by its pages (as a real API's cursor would be);
        # refiltering millions of rows for every page made paging quadratic.
        fills = self._data()
        if self._cached is None or self._cached[0] != (as_of, since):
            window = fills[(fills["recorded_date"] <= as_of) & (fills["fill_date"] > since)]
            self._cached = ((as_of, since), window)
        return self._cached[1]

    def handle(self, method: str, path: str, query: dict[str, str], _body) -> tuple[int, object]:
        if path != "/fills":
            return 404, {"error": f"no route {method} {path[:100]}"}
        if method != "GET":
            raise HttpError(405, f"{method} is not allowed on /fills; use GET")
        only(query, {"as_of", "since", "page_token", "page_size"})
        as_of, since = day_param(query, "as_of"), day_param(query, "since", "0001-01-01")
        start = int_param(query, "page_token", 0, low=0)
        size = int_param(query, "page_size", 1000, low=1, high=MAX_PAGE)
        if not self.fills_file.exists():
            return 503, {"error": "pharmacy store not seeded"}
        window = self._window(as_of, since)
        page = window.iloc[start:start + size]
        following = start + size if start + size < len(window) else None
        rest = json.dumps({"next_page_token": str(following) if following is not None else None,
                           "total": len(window)})
        return 200, f'{{"fills":{_records_json(page)},{rest[1:]}'.encode()


def _records_json(page: pd.DataFrame) -> str:
    """``json.dumps(_records(page))`` up to whitespace and escapes, decoding to the same values.
    pandas' C encoder writes a page 2.5x faster than boxing its cells and encoding the dicts, and
    this encoding was most of the pharmacy extract's server time; it is taken only where it is
    exact: integer, boolean and string columns without missing values (it rounds floats to 10
    digits and writes NaN as null)."""
    exact = all(pd.api.types.is_integer_dtype(t) and isinstance(t, np.dtype) or t == np.bool_
                or isinstance(t, pd.StringDtype) for t in page.dtypes)
    if exact and not page.isna().to_numpy().any():
        return page.to_json(orient="records")
    return json.dumps(_records(page))


def _records(page: pd.DataFrame) -> list[dict]:
    """``page.to_dict(orient="records")``, the same values, six times faster: pandas boxes every cell on
    its own, which made this server the larger half of the pharmacy extract's time. Columns of
    NumPy or string dtype become Python values through ``tolist`` exactly as ``to_dict`` boxes them;
    any other dtype (nullable, categorical) goes through ``to_dict`` itself."""
    columns = [page[name].tolist() if isinstance(page[name].dtype, np.dtype | pd.StringDtype)
               else list(page[name].to_dict().values()) for name in page.columns]
    names = [str(name) for name in page.columns]
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def serve(fills_file: Path, port: int = 0) -> JsonServer:
    return JsonServer(PharmacyApi(fills_file).handle, port=port, max_body=MAX_BODY)
