"""Library error messages without the cell values they sometimes quote.

scikit-learn, pandas and database drivers quote the offending value in many messages ("could not
convert string to float: 'P0000000'", "contains only one class: 'M'"). Those messages reach the
workflow history, logs and pages, where patient data must never go: the quoted or bracketed parts
are dropped and the rest (what went wrong, shapes, counts) is kept.
"""

from __future__ import annotations

import re

_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Lists and arrays of values: numbers in brackets may be counts or lab values; both go.
_BRACKETED = re.compile(r"\[[^\[\]]*\]|\{[^{}]*\}")


def redact(message: str) -> str:
    without_literals = _QUOTED.sub("<value>", message)
    return _BRACKETED.sub("<values>", without_literals)
