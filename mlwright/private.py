"""Owner-only files and directories for everything mlwright writes.

The store, the artifacts, the care and FHIR databases, the alert log and the logs all hold patient
data or its derivatives, so they are created 0600 (files) and 0700 (directories), never left to
the process umask (usually 0022, world-readable).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PRIVATE_UMASK = 0o077  # processes that create many files (the dev stack and its children) use this
FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents owner-only; directories that already exist are left as they are
    (a parent may be the user's own project directory)."""
    for directory in reversed([p for p in (path, *path.parents) if not p.exists()]):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another process created it first, with the same mode
        os.chmod(directory, DIR_MODE)  # mkdir's mode is filtered by the umask
    return path


def private_file(path: Path) -> Path:
    """Create ``path`` empty if it is missing, and make it owner-only either way."""
    private_dir(path.parent)
    if not path.exists():
        # Never open an existing file here: closing any descriptor of a file drops every POSIX lock
        # this process holds on it, and a SQLite database another engine of this process has open
        # (the step ledger's, beside the store's) would then lose writes and its WAL.
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return path


def create_once(path: Path, text: str) -> Path:
    """Write ``path`` (mode 0600) unless it exists; concurrent starters all end up with the first text."""
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        try:
            os.link(tmp, path)  # atomic, and fails if another process won the race: its file stands
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path
