"""Heartbeats with progress details for steps whose work is one long blocking call."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from temporalio import activity


@contextmanager
def heartbeating(step: str, every_s: float = 10.0) -> Iterator[Callable[[str], None]]:
    """Heartbeat every ``every_s`` from a side thread; yields a function that names the phase.

    A fit inside scikit-learn cannot call back, so the side thread keeps the heartbeat (and the
    server's view of liveness) going, with the current phase and elapsed time as details.
    """
    phase = ["start"]
    started = time.monotonic()
    stop = threading.Event()

    def beat() -> None:
        activity.heartbeat({"step": step, "phase": phase[0], "elapsed_s": round(time.monotonic() - started, 1)})

    def loop() -> None:
        while not stop.wait(every_s):
            beat()

    # The activity context lives in context variables: the side thread needs a copy of them.
    thread = threading.Thread(target=contextvars.copy_context().run, args=(loop,), daemon=True)
    thread.start()

    def set_phase(name: str) -> None:
        phase[0] = name
        activity.logger.info("%s: %s (%.1fs)", step, name, time.monotonic() - started)
        beat()

    try:
        yield set_phase
    finally:
        stop.set()
        thread.join()
