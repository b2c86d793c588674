"""The pharmacy API over real HTTP on loopback: paging, as-of semantics, and re-seeding."""

from __future__ import annotations

import os
from datetime import date

import httpx

from mlwright.patient_risk import sources, synthetic
from mlwright.services import pharmacy


def fetch_all(url: str, as_of: str) -> tuple[list[dict], int]:
    fills, token, pages = [], "0", 0
    while token is not None:
        body = httpx.get(f"{url}/fills", params={"as_of": as_of, "page_token": token, "page_size": 500}).json()
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
