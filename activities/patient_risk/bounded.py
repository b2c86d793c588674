"""Run a blocking call over a stream of items with at most ``in_flight`` of them at once.

The items are produced lazily in the calling (activity) thread, so memory holds at most
``in_flight + 1`` of them, and heartbeats and cancellation checks stay in that thread, where the
activity context lives. The first failure stops new submissions; the calls already running finish
(a half-sent request is never abandoned mid-body) and then the failure is raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TypeVar

from mlwright.heartbeat import check_cancelled

T = TypeVar("T")
R = TypeVar("R")


def run_bounded(call: Callable[[T], R], items: Iterable[T], in_flight: int,
                on_done: Callable[[R], None] = lambda _result: None) -> None:
    """``call(item)`` for every item, ``in_flight`` at a time; ``on_done(result)`` in this thread
    as each one completes (in completion order)."""
    queue = iter(items)
    running: set[Future[R]] = set()
    failure: BaseException | None = None
    with ThreadPoolExecutor(in_flight, thread_name_prefix="bounded") as pool:

        def refill() -> None:
            nonlocal failure
            while failure is None and len(running) < in_flight:
                try:
                    check_cancelled()
                    item = next(queue, _END)
                except BaseException as e:  # noqa: BLE001 - cancelled, or building the item failed
                    failure = e
                    return
                if item is _END:
                    return
                running.add(pool.submit(call, item))

        refill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            running.difference_update(done)
            for future in done:
                if future.exception() is not None:
                    failure = failure or future.exception()
                elif failure is None:
                    on_done(future.result())
            refill()
    if failure is not None:
        raise failure


_END = object()
