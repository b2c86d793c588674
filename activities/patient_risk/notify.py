"""Step 21 (alerts on high-risk patients) and the on-call alert for a failed step.

Every alert has a dedup key and a row in the store; only unsent ones are sent, and deliveries are
marked sent a window's worth per commit as they finish, so a retried step never alerts twice. A crash between a POST and
its mark re-sends only the few then unconfirmed (at most 4 × ``max_in_flight``); the dedup key
travels as ``Idempotency-Key`` and in the body, and receivers drop the repeat by it (the dev inbox
does, as PagerDuty's dedup_key and Opsgenie's alias do), so each alert is accepted exactly once.
Alerts carry the pseudonymous patient id and scores, never raw clinical data.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import islice

from sqlalchemy import Engine
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from activities.patient_risk import webhook
from activities.patient_risk.deps import PatientRiskDeps
from mlwright.alerting.routing import RateLimiter, cause_of, incident_key, shape
from mlwright.contracts import patient_risk as c
from mlwright.heartbeat import check_cancelled, phase
from mlwright.steps.patient_risk import BY_NAME, OPERATOR_ALERT
from mlwright.store import runs
from mlwright.store.db import open_store, session_scope

PIPELINE = "PatientRiskPipeline"
SEND_THREADS = 8  # default of `send_alerts.max_in_flight`; on-call pages use it too
Item = tuple[str, str, dict]  # dedup key, severity, payload
UNCONFIRMED_PER_SENDER = 4


class NotifyActivities:
    def __init__(self, deps: PatientRiskDeps) -> None:
        self.deps = deps
        self.limiter = RateLimiter(deps.settings.alert_rate_limit_per_min)

    @functools.cached_property
    def marks(self) -> Engine:
        """Where deliveries are marked sent: the store, committing without an fsync on SQLite (see
        ``make_engine``). The window holds at most ``UNCONFIRMED_PER_SENDER × senders`` unmarked, so
        a mark's commit time caps the send rate: with an fsync each (25 ms on a busy disk), 40k
        alerts took half a minute. A mark lost with the machine's power (a process crash loses
        none) re-sends alerts the receivers drop by their key."""
        url = self.deps.settings.resolved_database_url
        if url in {"sqlite://", "sqlite:///:memory:"}:  # a second engine would be another database
            return self.deps.base.engine
        return open_store(url, sync_each_commit=False)

    @BY_NAME["send_alerts"].defn
    def send_alerts(self, inp: c.RiskInput) -> c.AlertsResult:
        """One alert per high-tier patient per run date; critical when a critical-value rule fired."""
        risk = self.deps.base.artifacts.get_frame(inp.risk.data)
        high = risk[risk["tier"] == "high"]
        url = self.deps.settings.run_url(inp.run.workflow_id)
        wanted = [(f"patient-risk/{inp.run.run_date}/{r.patient_id}/high_risk",
                   "critical" if "critical_" in r.rules else "warning",
                   {"kind": "high_risk_patient", "pipeline": PIPELINE, "run_date": inp.run.run_date,
                    "patient_id": r.patient_id, "tier": r.tier, "score": r.score,
                    "scores": {"readmission": r.readmission, "deterioration": r.deterioration, "acuity": r.acuity},
                    "rules": [x for x in r.rules.split(",") if x], "models": inp.risk.model_versions, "run_url": url})
                  for r in high.itertuples(index=False)]
        window = BY_NAME["send_alerts"].options_of(inp).max_in_flight
        sent, already = self._deliver(wanted, inp.run.run_date, kind="high_risk_patient", window=window)
        return c.AlertsResult(candidates=len(wanted), sent=sent, already_sent=already)

    @OPERATOR_ALERT.defn
    def send_operator_alert(self, inp: c.OperatorAlertInput) -> c.AlertsResult:
        """The page to on-call: what failed, where to look, and the exact commands to resume; with
        ``event_action="resolve"``, the all-clear once the step has recovered."""
        s = self.deps.settings
        cause = cause_of(inp.error)
        incident = incident_key(PIPELINE, inp.step, cause, inp.run.run_date)
        if inp.event_action == "resolve":
            payload = {"kind": "step_resolved", "pipeline": PIPELINE, "run_date": inp.run.run_date,
                       "workflow_id": inp.run.workflow_id, "run_id": inp.run.run_id, "step": inp.step,
                       "step_number": inp.number, "cause": cause, "incident_key": incident,
                       "event_action": "resolve", "run_url": s.run_url(inp.run.workflow_id)}
            sent, already = self._deliver([(f"{inp.dedup_key}/resolved", "critical", payload)], inp.run.run_date,
                                          kind="step_resolved")
            return c.AlertsResult(candidates=1, sent=sent, already_sent=already)
        target = f"--address {s.temporal_address} --namespace {s.temporal_namespace} -w {inp.run.workflow_id}"
        retry = json.dumps({"step": inp.step, "operator": "<you>", "reason": "<what you fixed>"})
        commands = {"retry": f"temporal workflow update execute {target} --name retry_step --input '{retry}'",
                    "abort": f"temporal workflow update execute {target} --name abort --input "
                             "'{\"operator\": \"<you>\", \"reason\": \"<why>\"}'",
                    "progress": f"temporal workflow query {target} --type progress"}
        if inp.skippable:
            skip = json.dumps({"step": inp.step, "operator": "<you>", "reason": "<why it is safe>"})
            commands["skip"] = f"temporal workflow update execute {target} --name skip_step --input '{skip}'"
        payload = {"kind": "step_failed", "pipeline": PIPELINE, "run_date": inp.run.run_date,
                   "workflow_id": inp.run.workflow_id, "run_id": inp.run.run_id, "step": inp.step,
                   "step_number": inp.number, "error": inp.error, "attempts": inp.attempts,
                   "cause": cause, "incident_key": incident, "event_action": "trigger",
                   "run_url": s.run_url(inp.run.workflow_id), "commands": commands,
                   "waiting_runs_url": s.runs_url('MlwrightState="awaiting_operator"')}
        sent, already = self._deliver([(inp.dedup_key, "critical", payload)], inp.run.run_date,
                                      kind="step_failed")
        return c.AlertsResult(candidates=1, sent=sent, already_sent=already)

    def _deliver(self, wanted: list[Item], run_date: str, kind: str, window: int = SEND_THREADS) -> tuple[int, int]:
        with session_scope(self.deps.base.engine) as session:
            rows = runs.claim_alerts(session, kind=kind, run_date=run_date, wanted=wanted)
            pending = [(r.dedup_key, r.severity, r.payload) for r in rows if r.sent_at is None]
        already = len(wanted) - len(pending)
        with webhook.Poster(self.deps.http, self.tls) as poster:
            sent = _Window(functools.partial(self._send, poster), self._mark_sent, size=window).run(pending)
        if pending:
            activity.logger.info("%s alerts sent (%s already sent before)", sent, already)
        if sent < len(pending):
            # Held back, not dropped: the step's retry policy sends them once the route has room.
            raise ApplicationError(f"{len(pending) - sent} of {len(wanted)} alerts held back by their route's rate "
                                   "limit (alert_rate_limit_per_min); the next attempt sends them",
                                   type="AlertRateLimited")
        return sent, already

    @functools.cached_property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context()  # built once: ~ms each, and shared by every sender

    def _send(self, poster: webhook.Poster, item: tuple[str, str, dict]) -> str | None:
        """The key once every route took the alert; None when a route's rate limit held it back
        (it stays unsent in the store, so a later attempt of the step sends it)."""
        key, severity, payload = item
        s = self.deps.settings
        fmt = s.alert_formats.get(severity, "json")
        body = shape(fmt, key=key, severity=severity, payload=payload, routing_key=s.pagerduty_routing_key)
        if body is None:
            return key  # store only: the row is the alert
        for url in s.alert_routes.get(severity, []):
            if not self.limiter.allow(url):
                activity.logger.warning("alert %s held back: route %s over its rate limit", key, f"alert_routes.{severity}")
                return None
            poster.post(url, body, headers={"Idempotency-Key": key}, what=f"alert_routes.{severity}")
        return key

    def _mark_sent(self, keys: list[str]) -> None:
        with session_scope(self.marks) as session:
            runs.mark_sent(session, dedup_keys=keys)


class _Window:
    """``size`` senders; deliveries are marked sent ``size`` at a time (fewer when nothing else is in
    flight), in one commit each. At most ``UNCONFIRMED_PER_SENDER * size`` alerts are queued, in
    flight or delivered-but-unmarked at any moment, so the senders keep working while a commit runs,
    and a crash re-sends at most that many, once each; the receiver drops them by their key. A commit
    per finished delivery cost the worker as much CPU as the deliveries themselves."""

    def __init__(self, send: Callable[[Item], str | None], mark: Callable[[list[str]], None], size: int) -> None:
        self.send, self.mark, self.size = send, mark, size
        self.bound = UNCONFIRMED_PER_SENDER * size

    def run(self, items: list[Item]) -> int:
        queue, in_flight, delivered = iter(items), set[Future[str | None]](), 0
        unmarked: list[str] = []
        failure: BaseException | None = None
        with ThreadPoolExecutor(self.size) as pool:

            def refill() -> None:
                nonlocal failure
                try:
                    check_cancelled()
                except CancelledError as e:
                    failure = failure or e
                if failure is None:
                    room = self.bound - len(in_flight) - len(unmarked)
                    in_flight.update(pool.submit(self.send, item) for item in islice(queue, max(room, 0)))

            refill()
            while in_flight:
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                in_flight.difference_update(done)
                failure = failure or next((f.exception() for f in done if f.exception() is not None), None)
                unmarked += [k for f in done if f.exception() is None and (k := f.result()) is not None]
                refill()  # the senders keep working while these are marked
                # Also when another delivery failed: these went out.
                if unmarked and (len(unmarked) >= self.size or not in_flight or failure is not None):
                    self.mark(unmarked)
                    delivered += len(unmarked)
                    unmarked = []
                    phase(f"{delivered}/{len(items)} alerts sent")
                    refill()
        if failure is not None:
            raise failure
        return delivered
