"""Heartbeats with progress details for steps whose work is one long blocking call.

``Step.defn`` opens ``heartbeating`` around every step whose policy has a heartbeat timeout, so a
step can never be declared lost just because it is busy; inside, a step calls ``phase("fit")``
to say where it is, and that appears in the heartbeat details and the worker log.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from temporalio import activity

from mlwright import step_spans

_current: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar(
    "mlwright_heartbeat_phase", default=None
)


@contextmanager
def heartbeating(step: str, every_s: float) -> Iterator[Callable[[str], None]]:
    """Heartbeat every ``every_s`` from a side thread; yields the function that names the phase."""
    outer = _current.get()
    if outer is not None:  # already heartbeating for this activity
        yield outer
        return
    phase_now = ["start"]
    started = time.monotonic()
    stop = threading.Event()

    def beat() -> None:
        activity.heartbeat({"step": step, "phase": phase_now[0], "elapsed_s": round(time.monotonic() - started, 1)})

    def loop() -> None:
        while not stop.wait(every_s):
            beat()

    # The activity context lives in context variables: the side thread needs a copy of them.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(loop,), daemon=True)
    thread.start()

    def set_phase(name: str) -> None:
        phase_now[0] = name
        activity.logger.info("%s: %s (%.1fs)", step, name, time.monotonic() - started)
        beat()

    token = _current.set(set_phase)
    try:
        yield set_phase
    finally:
        _current.reset(token)
        stop.set()
        thread.join()


def phase(name: str) -> None:
    """Report the current phase of the running step (a no-op outside a heartbeating step)."""
    step_spans.phase(name)  # each phase is also a span, heartbeating or not
    setter = _current.get()
    if setter is not None:
        setter(name)
