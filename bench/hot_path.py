"""The per-attempt pieces of mlwright's hot path, timed alone (medians of many calls, microseconds).

The ledger write is timed through ``ledger.record`` as the interceptor calls it (mean, median, p99
and the thread's CPU: the mean carries the machine's I/O stalls that a median hides); the rest
are the calls an attempt makes around it: resource measurements, sealing and opening a small
payload, and OpenTelemetry's ``get_tracer`` as the SDK provider answers it and as mlwright's
cached provider does.

    python bench/hot_path.py [--rows 3000]
"""

from __future__ import annotations

import argparse
import base64
import resource
import secrets
import statistics
import tempfile
import time
import uuid
import zlib
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.dialects import sqlite
from temporalio.contrib.opentelemetry import create_tracer_provider
from temporalio.contrib.pydantic import pydantic_data_converter

from mlwright.cli import exit_now
from mlwright.codec import EncryptionCodec, Keyring, new_key
from mlwright.store import ledger
from mlwright.store.db import open_store
from mlwright.telemetry import _TracerPerModule


def median_us(fn, n: int = 2000) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1e6)
    return statistics.median(times)


def row() -> dict:
    now = datetime.now(UTC)
    return {"pipeline": "Bench", "workflow_id": f"w{uuid.uuid4().hex}", "run_id": "r", "step": "noop",
            "activity_id": "1", "attempt": 1, "queue": "q", "resource": "cpu", "started_at": now, "ended_at": now,
            "wall_s": 0.0, "cpu_s": 0.0, "peak_rss_delta_mb": 0.0, "outcome": "completed", "cost": 0.0}


def main(rows: int) -> None:
    home = Path(tempfile.mkdtemp())
    engine = open_store(f"sqlite:///{home}/ledger.db", sync_each_commit=False)  # as the ledger's engine
    walls, cpus = [], []
    for _ in range(rows):
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        ledger.record(engine, [row()])
        cpus.append(time.thread_time() - cpu0)
        walls.append(time.perf_counter() - wall0)
    walls.sort()
    wal = home / "ledger.db-wal"
    print(f"ledger write, {rows} rows: wall mean {statistics.mean(walls) * 1e3:.3f} ms, median "
          f"{statistics.median(walls) * 1e3:.3f}, p99 {walls[int(rows * 0.99)] * 1e3:.2f}; thread CPU mean "
          f"{statistics.mean(cpus) * 1e3:.3f} ms; WAL now {wal.stat().st_size // 1024 if wal.exists() else 0} KiB")
    print(f"  the same with the statement object reused as record() does: {median_us(ledger_call(engine), 1000):.1f} us;"
          f" a fresh statement each time: {median_us(lambda: uncached_new(engine), 1000):.1f} us")
    print(f"getrusage {median_us(lambda: resource.getrusage(resource.RUSAGE_SELF)):.1f} us, thread_time "
          f"{median_us(time.thread_time):.1f} us, datetime.now {median_us(lambda: datetime.now(UTC)):.1f} us")
    codec = EncryptionCodec(Keyring("k", {"k": base64.b64decode(new_key())}))
    payload = pydantic_data_converter.payload_converter.to_payloads(["validate_features"])[0]
    sealed = codec.seal(payload)
    raw = payload.SerializeToString()
    aes = AESGCM(secrets.token_bytes(32))
    print(f"{payload.ByteSize()}-byte payload: seal {median_us(lambda: codec.seal(payload)):.1f} us "
          f"(zlib {median_us(lambda: zlib.compress(raw)):.1f}, AES-GCM "
          f"{median_us(lambda: aes.encrypt(secrets.token_bytes(12), raw, b'k')):.1f}), open "
          f"{median_us(lambda: codec.open(sealed)):.1f} us")
    sdk = create_tracer_provider()
    cached = _TracerPerModule(create_tracer_provider())
    print(f"get_tracer: SDK provider {median_us(lambda: sdk.get_tracer('bench')):.1f} us, mlwright's "
          f"{median_us(lambda: cached.get_tracer('bench')):.1f} us")


def ledger_call(engine):
    return lambda: ledger.record(engine, [row()])


def uncached_new(engine) -> None:
    statement = sqlite.insert(ledger.StepLedger.__table__).on_conflict_do_nothing(index_elements=ledger._KEY)
    with engine.begin() as connection:
        connection.execute(statement, [row()])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=3000)
    main(parser.parse_args().rows)
    exit_now(0)
