"""Persistence: sqlmodel tables and repository functions, plus the content-addressed artifact store.

The same code runs on SQLite (default) and PostgreSQL (``MLWRIGHT_DATABASE_URL``). Engines are
built only in ``db.py``; repository functions take the session first and keyword arguments after.
"""
