"""Workflows: deterministic orchestration only.

A workflow decides which step runs next and keeps the run's state; it does no I/O and reads time
only through ``workflow.now()``/timers. It imports contracts and the step catalog, never the
activity modules (which pull in pandas and scikit-learn).
"""
