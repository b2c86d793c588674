"""Container healthcheck without curl in the image: GET a local HTTP probe, exit 0 only on 200.

Workers expose Prometheus metrics on MLWRIGHT_METRICS_PORT (path /metrics); the codec server
answers /healthz on MLWRIGHT_CODEC_PORT. MLWRIGHT_HEALTHCHECK_URL overrides both.
"""

from __future__ import annotations

import os
import sys
import urllib.request


def probe_url() -> str:
    explicit = os.environ.get("MLWRIGHT_HEALTHCHECK_URL")
    if explicit:
        return explicit
    if os.environ.get("MLWRIGHT_HEALTHCHECK") == "codec":
        return f"http://127.0.0.1:{os.environ.get('MLWRIGHT_CODEC_PORT', '8791')}/healthz"
    return f"http://127.0.0.1:{os.environ.get('MLWRIGHT_METRICS_PORT', '9464')}/metrics"


def main() -> int:
    try:
        with urllib.request.urlopen(probe_url(), timeout=4) as response:  # noqa: S310 (loopback only)
            return 0 if response.status == 200 else 1
    except OSError as exc:
        sys.stderr.write(f"unhealthy: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
