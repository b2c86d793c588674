"""mlwright: durable ML pipelines on Temporal.

This package is the shared kernel (settings, contracts, store, pure ML code). It imports nothing
from ``activities``, ``workflows`` or ``workers``: dependencies point inwards only.
"""

__version__ = "0.1.0"
