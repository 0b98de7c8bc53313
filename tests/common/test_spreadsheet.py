import pytest

from common.spreadsheet import csv_escape_formula, csv_unescape_formula


@pytest.mark.parametrize(
    "text",
    ["=SUM(A1)", "+1 for kindness", "-3 reasons", "@here", "\tindented", "'=already quoted", "''+x", "plain text",
     "it's fine", "'quoted but harmless", ""],
)
def test_escaping_is_safe_for_spreadsheets_and_reversible(text):
    escaped = csv_escape_formula(text)
    assert escaped[:1] not in {"=", "+", "-", "@", "\t", "\r"}
    assert csv_unescape_formula(escaped) == text
