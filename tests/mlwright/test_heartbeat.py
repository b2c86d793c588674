"""check_cancelled: a step stops between pages once cancelled, or once its heartbeats are lost."""

from __future__ import annotations

import pytest
from temporalio import activity
from temporalio.exceptions import CancelledError
from temporalio.testing import ActivityEnvironment

from mlwright.heartbeat import check_cancelled, heartbeating, phase


@activity.defn(no_thread_cancel_exception=True)  # so only check_cancelled can stop it here
def pager(pages: list[int]) -> None:
    with heartbeating("pager", every_s=60):
        for page in range(1000):
            check_cancelled()
            pages.append(page)
            phase(f"page {page}")


def test_a_cancelled_step_stops_at_its_next_check():
    env, pages = ActivityEnvironment(), []
    env.on_heartbeat = lambda *details: env.cancel() if details[0]["phase"] == "page 2" else None
    with pytest.raises(CancelledError, match="step stopped: cancelled"):
        env.run(pager, pages)
    assert pages == [0, 1, 2]


def test_a_step_whose_heartbeat_fails_stops_at_its_next_check():
    env, pages = ActivityEnvironment(), []

    def gone(*details) -> None:
        if details[0]["phase"] == "page 4":
            raise RuntimeError("activity not found")  # what a heartbeat for a finished run meets

    env.on_heartbeat = gone
    with pytest.raises(CancelledError, match="heartbeats are no longer recorded"):
        env.run(pager, pages)
    assert pages == [0, 1, 2, 3, 4]


def test_outside_an_activity_it_is_a_no_op():
    check_cancelled()
