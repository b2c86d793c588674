"""Activities: thin wrappers that load references, call ``mlwright.ml``, save references.

Each module holds one stage's activities as methods of a class built once per worker with its
dependencies (``ActivityDeps``). Activities are sync and run on the worker's thread pool,
because the work is CPU-bound or blocking I/O.
"""
