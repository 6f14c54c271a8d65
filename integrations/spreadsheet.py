"""CSV cells a spreadsheet will not run as formulas (CSV injection), for every CSV file the portal writes.

OWASP's CSV-injection guidance: no cell may begin with `=`, `+`, `-`, `@`, tab or carriage
return, the characters Excel, LibreOffice and Google Sheets start a formula with; and looking at
the first character is not enough, because a spreadsheet that opens the file with another
separator than ours (`;` in most European locales, tab, `|`) or ignores the quoting starts a new
cell after any of those, or after a line break. So a formula character is neutralised wherever a
cell could begin: at the start of the text and after each `,` `;` `|` tab or line break, also
when spaces or double quotes come between. An apostrophe goes before it: spreadsheets read a
cell that starts with one as text and do not show the apostrophe.

Only text is changed: numbers (int, Decimal) are written as they are, so amounts such as -5.00
stay numbers. Pass amounts as Decimal, never as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

FORMULA_START = re.compile(r"""(^|[,;|\t\r\n])([ "]*)(?=[=+\-@\t\r])""")


def safe_cell(value: Any) -> Any:
    """The value for a CSV cell: text with an apostrophe before each place a formula could start."""
    if not isinstance(value, str):
        return value
    return FORMULA_START.sub(r"\1\2'", value)


def safe_row(cells: Iterable[Any]) -> list[Any]:
    return [safe_cell(cell) for cell in cells]
