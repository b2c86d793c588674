"""What Linux's /proc says of a benchmark's processes: CPU used so far and children."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[str, list[str]] | None:
    """(command name, the fields after it), or None once the process is gone."""
    try:
        name, _, rest = Path(f"/proc/{pid}/stat").read_text().partition(" (")[2].rpartition(")")
    except OSError:
        return None
    return name, rest.split()


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of the process (0 once it is gone)."""
    stat = _stat(pid)
    # utime and stime are the 14th and 15th fields of stat, the 12th and 13th after the name
    return (int(stat[1][11]) + int(stat[1][12])) / CLOCK_TICKS if stat else 0.0


def children(pid: int) -> dict[int, str]:
    """The live children of ``pid``, by pid, with their command names."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) and int(stat[1][1]) == pid:
            found[int(entry.name)] = stat[0]
    return found


def cpu_with_children_s(pid: int, exclude: Iterable[int] = ()) -> float:
    """CPU seconds of the process and of its live children but ``exclude``."""
    skip = set(exclude)
    return cpu_s(pid) + sum(cpu_s(child) for child in children(pid) if child not in skip)
