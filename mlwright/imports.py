"""One lock for a process's imports of heavy libraries.

A worker imports its step code on first need, preloads libraries in the background, and unpickles
models (which imports scikit-learn) in step threads. Python's per-module import locks let two
threads importing one package tree in different orders hand one of them a partially initialised
module (a "concurrent circular import"); each of those paths takes this lock, so they never
overlap.
"""

from __future__ import annotations

import threading

LOCK = threading.RLock()
