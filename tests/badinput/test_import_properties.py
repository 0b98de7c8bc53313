"""Importers take any file a researcher might upload — random bytes, the wrong encoding, oversized fields,
spreadsheet formulas — and either import it or refuse it with ApplicationError naming file and line. Never another
exception, and a refused import stores nothing (all or nothing)."""

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.exceptions import ApplicationError
from labeling.models import ImportRecord, PoolItem, Text
from labeling.services.imports import MAX_TEXT_CHARS, import_upload_start, texts_import
from labeling.services.taxonomy import taxonomy_load

PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
# Cells spreadsheets would run as formulas, and the other things people paste into CSV files.
FORMULAS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=1", "=HYPERLINK(\"http://x\")", "'=already"]
ENCODINGS = ["utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"]


def counts() -> tuple[int, int, int]:
    return Text.objects.count(), PoolItem.objects.count(), ImportRecord.objects.count()


def import_outcome(format: str, files: dict[str, bytes], folder: Path) -> str:
    """Import the files; "imported" or "refused". Any other exception fails the test."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files.items():
        path = folder / name
        path.write_bytes(data)
        paths.append(path)
    before = counts()
    try:
        texts_import(format=format, paths=[p for p in paths if format != "touche23" or p.name.startswith("arguments-")])
    except ApplicationError as exc:  # a refusal is one of the two allowed outcomes, not the expected one
        assert exc.message.strip(), "a refusal must say why"  # noqa: PT017
        assert counts() == before, "a refused import stored rows"
        return "refused"
    return "imported"


@pytest.fixture
def taxonomy(db):
    taxonomy_load()


@PROPERTY_SETTINGS
@given(data=st.binary(max_size=2000), format=st.sampled_from(["csv", "jsonl", "vidb", "touche23"]))
def test_random_bytes_are_imported_or_refused_never_a_crash(taxonomy, tmp_path_factory, data, format):
    names = {
        "csv": {"upload.csv": data},
        "jsonl": {"upload.jsonl": data},
        "vidb": {"benevolence_svt_flag_aggregated.csv": data},
        "touche23": {"arguments-test.tsv": data, "labels-test.tsv": data[::-1]},
    }[format]
    import_outcome(format, names, tmp_path_factory.mktemp("random"))


cell_text = st.one_of(
    st.text(min_size=0, max_size=200),
    st.sampled_from(FORMULAS),
    st.just("x" * (MAX_TEXT_CHARS + 1)),  # one character over the limit
    st.just("nul\x00inside"),  # PostgreSQL cannot store NUL in text
    st.text(alphabet=st.characters(categories=["Cc", "Zs", "So"]), max_size=30),  # control characters, symbols
)
rows = st.lists(
    st.tuples(
        cell_text,
        st.sampled_from(["svt", "mft", "nonsense", ""]),
        st.sampled_from(["benevolence", "care", "no-such-value", ""]),
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.sampled_from(["7", "-10", "eleven"])),
    ),
    min_size=1,
    max_size=6,
)


@PROPERTY_SETTINGS
@given(rows=rows, encoding=st.sampled_from(ENCODINGS))
def test_generated_csv_files_import_completely_or_not_at_all(taxonomy, tmp_path_factory, rows, encoding):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["text", "theory", "value", "intensity"])
    for text, theory, value, intensity in rows:
        writer.writerow([text, theory, value, "" if intensity is None else intensity])
    try:
        data = buffer.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = buffer.getvalue().encode("utf-8", errors="surrogatepass")
    before_texts = Text.objects.count()
    outcome = import_outcome("csv", {"generated.csv": data}, tmp_path_factory.mktemp("csv"))
    if outcome == "imported":
        assert Text.objects.count() - before_texts <= len(rows)


@PROPERTY_SETTINGS
@given(records=st.lists(st.dictionaries(
    st.sampled_from(["text", "theory", "value", "intensity", "direction", "source"]),
    st.one_of(st.none(), st.integers(), st.floats(), cell_text, st.lists(st.integers(), max_size=2)),
), max_size=5))
def test_generated_json_lines_import_completely_or_not_at_all(taxonomy, tmp_path_factory, records):
    data = "\n".join(json.dumps(record) for record in records).encode()
    import_outcome("jsonl", {"generated.jsonl": data}, tmp_path_factory.mktemp("jsonl"))


def test_a_formula_in_a_text_is_stored_as_text_and_never_evaluated(taxonomy, tmp_path):
    data = b"text,theory,value\n\"=HYPERLINK(\"\"http://evil.example\"\")\",svt,benevolence\n"
    assert import_outcome("csv", {"formula.csv": data}, tmp_path) == "imported"
    assert Text.objects.filter(content='=HYPERLINK("http://evil.example")').exists()


def test_an_oversized_text_is_refused_with_its_line_and_the_limit(taxonomy, tmp_path):
    data = f"text,theory,value\nshort enough,svt,benevolence\n{'y' * (MAX_TEXT_CHARS + 5)},svt,benevolence\n".encode()
    path = tmp_path / "big.csv"
    path.write_bytes(data)
    with pytest.raises(ApplicationError) as refusal:
        texts_import(format="csv", paths=[path])
    assert "big.csv:3" in refusal.value.message
    assert f"the limit is {MAX_TEXT_CHARS:,}" in refusal.value.message
    assert Text.objects.count() == 0  # the valid first row was not stored either


def test_an_upload_over_the_size_limit_is_refused_before_anything_is_stored(researcher_client, settings, tmp_path):
    settings.VALUEFLOW_MAX_IMPORT_BYTES = 1000
    upload = io.BytesIO(b"text,theory,value\n" + b"z" * 2000 + b",svt,benevolence\n")
    upload.name = "large.csv"
    response = researcher_client.post("/api/v1/imports/", {"format": "csv", "files": [upload]})
    assert response.status_code == 400
    assert "large.csv: 2,035 bytes is over the limit of 1,000 bytes" in response.json()["message"]
    assert not (Path(settings.MEDIA_ROOT) / "imports").exists()


def test_the_upload_service_refuses_paths_in_file_names(researcher, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    job = import_upload_start(
        format="csv", files=[SimpleUploadedFile("../../etc/passwd.csv", b"text,theory,value\n")], user=researcher
    )
    stored = Path(job.params["paths"][0])
    assert stored.name == "passwd.csv"
    assert Path(settings.MEDIA_ROOT) in stored.parents


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_a_nul_character_is_refused_with_its_line_not_a_database_error(taxonomy, tmp_path, encoding):
    text = "text,theory,value\nfine,svt,benevolence\nbad\x00byte,svt,benevolence\n"
    path = tmp_path / "nul.csv"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(ApplicationError) as refusal:
        texts_import(format="csv", paths=[path])
    assert "nul.csv:" in refusal.value.message
    assert "NUL character" in refusal.value.message or "not valid UTF-8" in refusal.value.message
    assert Text.objects.count() == 0


def test_a_nul_escape_inside_json_is_refused_with_its_line(taxonomy, tmp_path):
    path = tmp_path / "nul.jsonl"
    lines = [{"text": "fine", "theory": "svt", "value": "benevolence"},
             {"text": "bad\u0000byte", "theory": "svt", "value": "benevolence"},
             {"text": "also fine", "theory": "svt", "value": "benevolence", "source": "lab\u0000notes"},
             {"text": "fine again", "theory": "svt", "value": "bene\u0000volence"}]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    with pytest.raises(ApplicationError) as refusal:
        texts_import(format="jsonl", paths=[path])
    assert "nul.jsonl:2: text contains a NUL character" in refusal.value.message
    assert "nul.jsonl:3: source contains a NUL character" in refusal.value.message
    assert "nul.jsonl:4: value contains a NUL character" in refusal.value.message
    assert Text.objects.count() == 0
