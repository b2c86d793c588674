"""Pure domain code: data loading, quality checks, features, training, metrics.

Nothing here knows about Temporal or the store; every function is tested on its own.
"""
