"""Fixtures for the labeling services' tests."""

import pytest

from labeling.services import annotation_sql


@pytest.fixture(params=["sql", "orm"])
def statement_path(request, monkeypatch):
    """Run the test twice: with the hot path's hand-written PostgreSQL statements, and with the ORM path that SQLite
    (the embedded default) takes — both must behave the same."""
    if request.param == "orm":
        monkeypatch.setattr(annotation_sql, "enabled", lambda: False)
    return request.param
