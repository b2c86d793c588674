"""Alert routing by severity through the real send activity to real loopback receivers: critical
is a PagerDuty Events v2 event, warning a Slack message, info stays in the store; one incident per
(pipeline, step, cause, date); resolve closes it; a route over its rate limit holds alerts back."""

from __future__ import annotations

import contextlib

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.deps import ActivityDeps
from activities.patient_risk.deps import PatientRiskDeps
from activities.patient_risk.notify import NotifyActivities
from mlwright.alerting.routing import RateLimiter, cause_of, incident_key
from mlwright.contracts import patient_risk as c
from mlwright.services import alert_inbox
from mlwright.store import runs
from mlwright.store.db import session_scope

DAY = "2026-11-26"


@contextlib.contextmanager
def routed(settings, **changes):
    pd_server, pd = alert_inbox.serve()
    slack_server, slack = alert_inbox.serve()
    with pd_server, slack_server:
        s = settings.model_copy(update={
            "alert_routes": {"critical": [f"{pd_server.url}/alerts"], "warning": [f"{slack_server.url}/alerts"],
                             "info": []},
            "alert_formats": {"critical": "pagerduty", "warning": "slack", "info": "store"},
            "pagerduty_routing_key": "R0UTINGKEY", **changes})
        deps = PatientRiskDeps.build(ActivityDeps.from_settings(s), s)
        yield NotifyActivities(deps), deps, pd, slack


def page(run_id: str, failure: int = 1, action: str = "trigger", error: str = "InjectedFault: boom") -> c.OperatorAlertInput:
    return c.OperatorAlertInput(run=c.RunRef(workflow_id=f"wf-{run_id}", run_id=run_id, run_date=DAY),
                                options={"failure": failure}, step="model_deterioration", number=14,
                                error=error, attempts=3, skippable=False, event_action=action)


def test_critical_page_is_a_pagerduty_event_sent_once_and_resolved(settings):
    env = ActivityEnvironment()
    with routed(settings) as (notify, _deps, pd, slack):
        first = env.run(notify.send_operator_alert, page("r1"))
        again = env.run(notify.send_operator_alert, page("r1"))  # a retried activity: the store says sent
        other_run = env.run(notify.send_operator_alert, page("r2"))  # same step, cause, day: same incident
        resolved = env.run(notify.send_operator_alert, page("r1", action="resolve"))
        resolved_again = env.run(notify.send_operator_alert, page("r1", action="resolve"))
    assert (first.sent, again.sent, again.already_sent) == (1, 0, 1)
    assert (resolved.sent, resolved_again.sent) == (1, 0)
    incident = incident_key("PatientRiskPipeline", "model_deterioration", "InjectedFault", DAY)
    assert incident == f"PatientRiskPipeline/model_deterioration/InjectedFault/{DAY}"
    assert other_run.sent == 1 and pd.deliveries == {incident: 2, f"{incident}#resolve": 1}
    trigger, resolve = pd.received
    assert (trigger["routing_key"], trigger["event_action"], trigger["dedup_key"]) == ("R0UTINGKEY", "trigger", incident)
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "PatientRiskPipeline"
    assert "model_deterioration failed (InjectedFault)" in trigger["payload"]["summary"]
    assert trigger["payload"]["custom_details"]["commands"]["retry"].startswith("temporal workflow update")
    assert resolve == {"routing_key": "R0UTINGKEY", "event_action": "resolve", "dedup_key": incident}
    assert slack.deliveries == {}


def test_warning_is_a_slack_message_and_info_is_stored_only(settings):
    with routed(settings) as (notify, deps, pd, slack):
        wanted = [("k-warn", "warning", {"kind": "high_risk_patient", "pipeline": "PatientRiskPipeline",
                                         "run_date": DAY, "patient_id": "P0000042", "tier": "high"}),
                  ("k-info", "info", {"kind": "notice", "pipeline": "PatientRiskPipeline", "run_date": DAY})]
        assert notify._deliver(wanted, DAY, kind="high_risk_patient") == (2, 0)
        assert notify._deliver(wanted, DAY, kind="high_risk_patient") == (0, 2)
        with session_scope(deps.base.engine) as session:
            stored = {a.dedup_key: (a.severity, a.sent_at is not None) for a in runs.alerts_for(session, run_date=DAY)}
    assert stored == {"k-warn": ("warning", True), "k-info": ("info", True)}
    assert pd.deliveries == {} and slack.deliveries == {"k-warn": 1}
    (message,) = slack.received
    assert message["text"].startswith(":warning: PatientRiskPipeline 2026-11-26: high-risk patient P0000042")
    assert message["blocks"][0]["type"] == "section"


def test_a_route_over_its_rate_limit_holds_alerts_back_until_a_later_attempt(settings):
    now = [0.0]
    with routed(settings, alert_rate_limit_per_min=2) as (notify, deps, _pd, slack):
        notify.limiter = RateLimiter(2, clock=lambda: now[0])
        wanted = [(f"k{i}", "warning", {"kind": "high_risk_patient", "pipeline": "P", "run_date": DAY})
                  for i in range(5)]

        def unsent() -> int:
            with session_scope(deps.base.engine) as session:
                return len([a for a in runs.alerts_for(session, run_date=DAY) if a.sent_at is None])

        with pytest.raises(ApplicationError, match="3 of 5 alerts held back") as held:
            notify._deliver(wanted, DAY, kind="high_risk_patient")
        assert not held.value.non_retryable and (len(slack.deliveries), unsent()) == (2, 3)
        with pytest.raises(ApplicationError, match="3 of 5 alerts held back"):  # a retry inside the same minute
            notify._deliver(wanted, DAY, kind="high_risk_patient")
        now[0] = 61
        with pytest.raises(ApplicationError, match="1 of 5 alerts held back"):
            notify._deliver(wanted, DAY, kind="high_risk_patient")
        now[0] = 122
        assert notify._deliver(wanted, DAY, kind="high_risk_patient") == (1, 4)
        assert unsent() == 0
    assert slack.deliveries == {f"k{i}": 1 for i in range(5)}  # each once, across all the attempts


def test_a_delivery_failure_fails_only_the_alert_activity(settings):
    with routed(settings) as (notify, _deps, _pd, _slack):
        notify.deps.settings.alert_routes["critical"] = ["http://127.0.0.1:9/alerts"]  # nothing listens
        with pytest.raises(Exception) as failed:
            ActivityEnvironment().run(notify.send_operator_alert, page("r3"))
    assert "alert_routes.critical" in str(failed.value)


def test_formats_name_known_severities_and_shapes(tmp_path):
    from pydantic import ValidationError

    from mlwright.settings import Settings

    with pytest.raises(ValidationError, match="unknown severities \\['urgent'\\]"):
        Settings(home=tmp_path, alert_formats={"urgent": "slack"})
    with pytest.raises(ValidationError, match="alert_formats.critical"):
        Settings(home=tmp_path, alert_formats={"critical": "email"})


def test_rate_limiter_window_and_cause():
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    assert [limiter.allow("a"), limiter.allow("a"), limiter.allow("a"), limiter.allow("b")] == [True, True, False, True]
    now[0] = 60.5
    assert limiter.allow("a")
    assert cause_of("InjectedFault: injected fault at step 14") == "InjectedFault"
    assert cause_of("patient P1 has value 7 which is odd") == "failure"
