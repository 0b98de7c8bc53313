"""CSV formula-injection escaping shared by every export and the importers that read exports back.

A spreadsheet runs a cell starting with = + - @ (or a tab / carriage return) as a formula. Exports prefix one
single quote to such a text cell — and to a cell that already starts with quotes before such a character, so
that the escape is reversible: importers drop exactly one leading quote from cells matching ^'+[=+-@\\t\\r].
"""

import re

FORMULA_ESCAPE = re.compile(r"^'*[=+\-@\t\r]")
ESCAPED_FORMULA = re.compile(r"^'+[=+\-@\t\r]")


def csv_escape_formula(cell: str) -> str:
    """Make a text cell safe to open in a spreadsheet."""
    return "'" + cell if FORMULA_ESCAPE.match(cell) else cell


def csv_unescape_formula(cell: str) -> str:
    """Undo csv_escape_formula: the exact text that was exported."""
    return cell[1:] if ESCAPED_FORMULA.match(cell) else cell
