"""Workers: one process per task queue (resource class), each with its own concurrency limit.

``python -m workers io`` (or ``mlwright worker io``) serves the io queue. What a queue serves is
read off the step catalog, so a step always runs where the catalog says.
"""
