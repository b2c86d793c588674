"""Workers: one process per task queue (resource class), each with its own concurrency limit.

``python -m workers io`` (or ``mlwright worker io``) serves the io queue. What a queue serves is
read off the step catalog, so a step always runs where the catalog says.
"""

import os

# Arrow's default allocator (mimalloc) keeps what a step has freed; jemalloc hands it back to the OS
# after its decay time. With it a worker running FeaturePipeline's steps over a million patients peaks
# at ~1.6 GB instead of 1.8-2.1 GB (bench/features.py). Only read when pyarrow is first imported, so
# it is set here, before any step module; a value already in the environment wins.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")
