"""``python -m workers QUEUE [QUEUE ...]``: serve the named resource classes in this process."""

from __future__ import annotations

import argparse
import asyncio
import os

from mlwright.cli import exit_now
from mlwright.private import PRIVATE_UMASK
from mlwright.queues import Resource
from mlwright.settings import get_settings
from workers.serve import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("queues", nargs="+", choices=[r.value for r in Resource], help="resource classes to serve")
    parser.add_argument("--ready-fd", type=int, default=None, metavar="FD",
                        help="write each queue's name to this descriptor once it is polled (`mlwright dev` does)")
    args = parser.parse_args(argv)
    os.umask(PRIVATE_UMASK)  # whatever a step writes locally may hold patient data
    asyncio.run(serve([Resource(q) for q in args.queues], get_settings(), ready_fd=args.ready_fd))
    exit_now(0)


if __name__ == "__main__":
    main()
