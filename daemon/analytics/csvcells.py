"""The one rule for every CSV plexfm writes: text a spreadsheet would run as a formula gets a
leading apostrophe (OWASP's advice against CSV injection).

A text cell starting with = + - @, a tab or a carriage return, or with the full-width forms
U+FF1D U+FF0B U+FF0D U+FF20 (some spreadsheets fold them to the ASCII ones), is written with
a ' in front, so Excel, LibreOffice and Google Sheets show it as text instead of running it
(`=HYPERLINK(...)`, `@SUM(1)`). Only text: numbers, negative ones included, are written as
they are. Artist and track names are user data, and a CSV of them is read by spreadsheets.
docs/export.md states the rule (Parquet and NDJSON keep the exact text).

Lines end with CRLF (RFC 4180): Python's csv module quotes a field holding a carriage return
only when the line terminator contains one, and an unquoted one would end the row there (the
rest of the cell, `=HYPERLINK(...)` say, would start a row of its own).
"""

from __future__ import annotations

from typing import TypeVar

import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype, is_string_dtype

LINE_END = "\r\n"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")

T = TypeVar("T")


def formula_safe(value: T) -> T | str:
    """`value` with an apostrophe in front when it is text starting like a formula; anything
    else (numbers, None, other text) unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def formula_safe_column(column: pd.Series) -> pd.Series:
    """`formula_safe` over a column (vectorised for a text column); a numeric or boolean
    column is returned unchanged."""
    if is_numeric_dtype(column.dtype) or is_bool_dtype(column.dtype):
        return column
    if is_string_dtype(column.dtype) and column.dtype != object:
        risky = column.str.startswith(FORMULA_START, na=False)
    else:  # object: text mixed with None or other values
        risky = column.map(lambda v: isinstance(v, str) and v.startswith(FORMULA_START))
    risky = risky.astype(bool)
    if not risky.any():
        return column
    return column.mask(risky, "'" + column[risky].astype(str))


def formula_safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with `formula_safe_column` applied to each of its columns."""
    return frame.apply(formula_safe_column)

