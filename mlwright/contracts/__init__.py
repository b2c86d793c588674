"""Pydantic models for every workflow, activity, update and query input and output.

Contracts import nothing heavy (no pandas, no scikit-learn, no SQL) so workflow code can import
them inside the sandbox. Fields are snake_case and documented, since users type them as JSON.
"""
