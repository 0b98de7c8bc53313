"""Text imports: each format, all-or-nothing validation with `file:line` problems, idempotence, the command."""

import json
import time
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError

from common.exceptions import ApplicationError
from labeling.models import ImportRecord, PoolItem, Text, Theory, Value, ValueEdge
from labeling.services.imports import (
    import_job_handler,
    import_upload_start,
    text_content_hash,
    texts_import,
    vidb_file_value,
)
from labeling.services.taxonomy import taxonomy_load

TOUCHE_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "touche23-valueeval"

# The Schwartz basic values and the refined categories Touché23-ValueEval labels, keyed as the taxonomy keys them.
SCHWARTZ_REFINED = {
    "self-direction": ["thought", "action"], "stimulation": [], "hedonism": [], "achievement": [],
    "power": ["dominance", "resources"], "face": [], "security": ["personal", "societal"], "tradition": [],
    "conformity": ["rules", "interpersonal"], "humility": [], "benevolence": ["caring", "dependability"],
    "universalism": ["concern", "nature", "tolerance", "objectivity"],
}


def _value(theory: Theory, key: str, name: str, level: int, parent: Value | None = None) -> Value:
    value = Value.objects.create(
        theory=theory, key=key, name=name, definition=f"{name}.", level=level, is_target=parent is None
    )
    if parent is not None:
        ValueEdge.objects.create(parent=parent, child=value)
    return value


@pytest.fixture
def taxonomy(db) -> None:
    """The slice of the four theories these imports name."""
    svt = Theory.objects.create(key="svt", name="Schwartz")
    for basic, refined in SCHWARTZ_REFINED.items():
        parent = _value(svt, basic, basic.replace("-", " ").capitalize(), 3)
        for sub in refined:
            _value(svt, f"{basic}-{sub}", f"{parent.name}: {sub}", 4, parent)
    mft = Theory.objects.create(key="mft", name="Moral Foundations")
    _value(mft, "care-harm", "Care/Harm", 1)
    _value(mft, "fairness-cheating", "Fairness/Cheating", 1)
    duties = Theory.objects.create(key="duties", name="Ross's duties")
    _value(duties, "non-maleficence", "Non-maleficence", 1)
    rights = Theory.objects.create(key="rights", name="Vasak's rights")
    _value(rights, "civil-rights", "Civil rights", 2)


def _counts() -> tuple[int, int, int]:
    return Text.objects.count(), PoolItem.objects.count(), ImportRecord.objects.count()


def _write(path: Path, content: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + content.encode("utf-8"))
    return path


# --- generic CSV and JSONL ------------------------------------------------------------------------------------


def test_generic_csv_creates_texts_and_pool_items_with_direction_and_prior(taxonomy, tmp_path, researcher):
    path = _write(
        tmp_path / "mixed.csv",
        "text,theory,value,direction,intensity,source,language\n"
        "Helping a stranger carry groceries.,mft,care/harm,supports,7.5,forum,en\n"
        "Helping a stranger   carry groceries.,svt,Benevolence: caring,+1,,,\n"
        "Cutting the queue at the pharmacy.,mft,fairness_cheating,-1,-6,,de\n"
        "A walk in the park.,duty,non-maleficence,neutral,,,\n",
    )

    summary = texts_import(format="csv", paths=[path], imported_by=researcher)

    assert summary.as_dict() == {
        "files": 1, "rows": 4, "texts_created": 3, "texts_existing": 0,
        "pool_items_created": 4, "pool_items_existing": 0,
    }
    helping = Text.objects.get(content_hash=text_content_hash("Helping a stranger carry groceries."))
    pools = {item.value.qualified_key: (item.direction, item.prior_intensity) for item in helping.pool_items.all()}
    assert pools == {"mft:care-harm": (1, 7.5), "svt:benevolence-caring": (1, None)}
    assert helping.source == "forum"
    queue = PoolItem.objects.get(value__key="fairness-cheating")
    assert (queue.direction, queue.prior_intensity, queue.text.language) == (-1, -6.0, "de")
    record = ImportRecord.objects.get()
    assert (record.file_name, record.format, record.rows, record.texts_created, record.pool_items_created) == (
        "mixed.csv", "csv", 4, 3, 4,
    )
    assert record.imported_by == researcher


def test_generic_jsonl_import(taxonomy, tmp_path):
    rows = [
        {"text": "Rights for everyone to speak freely.", "theory": "right", "value": "civil_rights", "direction": 1},
        {"text": "Never hurt anyone on purpose.", "theory": "duties", "value": "Non-maleficence", "intensity": 9},
    ]
    path = _write(tmp_path / "rows.jsonl", "\n".join(json.dumps(row) for row in rows) + "\n\n")

    summary = texts_import(format="jsonl", paths=[path])

    assert (summary.rows, summary.texts_created, summary.pool_items_created) == (2, 2, 2)
    assert set(PoolItem.objects.values_list("value__key", "direction", "prior_intensity")) == {
        ("civil-rights", 1, None), ("non-maleficence", None, 9.0),
    }


def test_jsonl_problems_name_the_line(taxonomy, tmp_path):
    path = _write(
        tmp_path / "bad.jsonl",
        '{"text": "ok", "theory": "mft", "value": "care-harm"}\n'
        "not json\n"
        '{"text": "no value here", "theory": "mft"}\n'
        '["a", "list"]\n',
    )
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="jsonl", paths=[path])
    message = caught.value.message
    assert "bad.jsonl:2: not valid JSON" in message
    assert "bad.jsonl:3: missing required key 'value' (found keys: text, theory)" in message
    assert "bad.jsonl:4: expected a JSON object, found list" in message
    assert _counts() == (0, 0, 0)


def test_every_bad_row_is_listed_with_file_line_and_reason_and_nothing_is_written(taxonomy, tmp_path):
    path = _write(
        tmp_path / "care.csv",
        "text,theory,value,direction,intensity\n"
        "Fine row.,mft,care-harm,,\n"
        ",mft,care-harm,,\n"
        "Unknown value.,mft,kindness-to-robots,,\n"
        "Unknown theory.,astrology,care-harm,,\n"
        "Bad direction.,mft,care-harm,sideways,\n"
        "Too strong.,mft,care-harm,,12.5\n"
        f"{'x' * 20_001},mft,care-harm,,\n",
    )
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="csv", paths=[path])

    problems = caught.value.extra["problems"]
    assert problems[0] == "care.csv:3: text is empty"
    assert problems[1].startswith("care.csv:4: unknown value 'kindness-to-robots' in theory 'mft'")
    assert problems[2].startswith("care.csv:5: unknown theory 'astrology'")
    assert problems[3].startswith("care.csv:6: direction 'sideways' is not one of")
    assert problems[4] == "care.csv:7: intensity 12.5 is outside [-10, 10]"
    assert problems[5] == "care.csv:8: text has 20,001 characters; the limit is 20,000"
    assert caught.value.extra["problem_count"] == 6
    assert "nothing was written" in caught.value.message
    assert _counts() == (0, 0, 0)


def test_missing_column_names_the_column_and_the_header_found(taxonomy, tmp_path):
    path = _write(tmp_path / "cols.csv", "Text,Theory\nA text,mft\n")
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="csv", paths=[path])
    assert "cols.csv:1: missing required column 'value' (found columns: Text, Theory)" in caught.value.message


def test_a_file_that_is_not_utf8_names_file_and_line(taxonomy, tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("text,theory,value\nfine,mft,care-harm\ncaf\u00e9 au lait,mft,care-harm\n".encode("latin-1"))
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="csv", paths=[path])
    assert "latin1.csv:3: not valid UTF-8 (byte 0xe9" in caught.value.message


def test_only_the_first_twenty_problems_are_listed_with_a_count(taxonomy, tmp_path):
    path = _write(tmp_path / "many.csv", "text,theory,value\n" + ",mft,care-harm\n" * 25)
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="csv", paths=[path])
    assert len(caught.value.extra["problems"]) == 20
    assert caught.value.extra["problem_count"] == 25
    assert caught.value.message.endswith("… and 5 more problems")


# --- VIDB release files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file_name", "qualified_key"),
    [
        ("care-harm_mft_flag_aggregated.csv", "mft:care-harm"),
        ("self-direction_pvq_flag_aggregated.csv", "svt:self-direction"),
        ("civil_rights_right_flag_aggregated.csv", "rights:civil-rights"),
        ("non-maleficence_duty_flag_aggregated.csv", "duties:non-maleficence"),
        ("care-harm_mft.csv", "mft:care-harm"),
    ],
)
def test_vidb_file_names_resolve_to_their_value(taxonomy, file_name, qualified_key):
    assert vidb_file_value(file_name=file_name).qualified_key == qualified_key


@pytest.mark.parametrize(
    ("file_name", "reason"),
    [("care-harm.csv", "does not fit the VIDB pattern"), ("kindness_mft_flag.csv", "unknown value 'kindness'")],
)
def test_vidb_file_names_that_do_not_fit_are_refused_clearly(taxonomy, file_name, reason):
    with pytest.raises(LookupError, match=reason):
        vidb_file_value(file_name=file_name)


def test_vidb_file_with_bom_keeps_ratings_as_priors_and_derives_direction(taxonomy, tmp_path):
    path = _write(
        tmp_path / "care-harm_mft_flag_aggregated.csv",
        'text,final_rating\n"She nursed the injured bird, every day.",8.25\nHe kicked the dog.,-9\n'
        "The bus was late.,0.5\nShe held the door.,1\n",
        bom=True,
    )

    summary = texts_import(format="vidb", paths=[path])

    assert (summary.files, summary.rows, summary.texts_created, summary.pool_items_created) == (1, 4, 4, 4)
    items = {item.text.content: (item.direction, item.prior_intensity) for item in PoolItem.objects.all()}
    assert items == {
        "She nursed the injured bird, every day.": (1, 8.25),
        "He kicked the dog.": (-1, -9.0),
        "The bus was late.": (0, 0.5),  # inside the neutral dead zone
        "She held the door.": (1, 1.0),
    }
    assert set(PoolItem.objects.values_list("value__key", flat=True)) == {"care-harm"}


def test_vidb_directory_imports_every_csv_and_shares_texts_across_values(taxonomy, tmp_path):
    folder = tmp_path / "vidb"
    folder.mkdir()
    _write(folder / "care-harm_mft_flag_aggregated.csv", "text,final_rating\nShared text.,5\nOnly care.,-3\n")
    _write(folder / "self-direction_pvq_flag_aggregated.csv", "text,final_rating\nShared text.,2\n", bom=True)
    _write(folder / "civil_rights_right_flag_aggregated.csv", "text,final_rating\nVote freely.,10\n")
    (folder / "README.txt").write_text("not imported")

    summary = texts_import(format="vidb", paths=[folder])

    assert summary.as_dict() == {
        "files": 3, "rows": 4, "texts_created": 3, "texts_existing": 1,
        "pool_items_created": 4, "pool_items_existing": 0,
    }
    shared = Text.objects.get(content="Shared text.")
    assert sorted(shared.pool_items.values_list("value__key", "prior_intensity")) == [
        ("care-harm", 5.0), ("self-direction", 2.0),
    ]
    assert ImportRecord.objects.count() == 3


def test_vidb_rating_outside_the_scale_is_reported_with_file_and_line(taxonomy, tmp_path):
    path = _write(tmp_path / "care-harm_mft.csv", "text,final_rating\n" + "Fine.,1\n" * 12 + "Too much.,12.5\n")
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="vidb", paths=[path])
    assert "care-harm_mft.csv:14: final_rating 12.5 is outside [-10, 10]" in caught.value.message
    assert _counts() == (0, 0, 0)


def test_a_bad_second_file_leaves_the_database_unchanged(taxonomy, tmp_path):
    good = _write(tmp_path / "care-harm_mft_flag_aggregated.csv", "text,final_rating\nGood text.,3\n")
    bad = _write(tmp_path / "self-direction_pvq_flag_aggregated.csv", "text,rating\nSome text.,3\n")
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="vidb", paths=[good, bad])
    assert (
        "self-direction_pvq_flag_aggregated.csv:1: missing required column 'final_rating' (found columns: text, rating)"
        in caught.value.message
    )
    assert _counts() == (0, 0, 0)


def test_reimporting_the_same_file_creates_nothing_and_is_recorded(taxonomy, tmp_path):
    path = _write(tmp_path / "care-harm_mft_flag_aggregated.csv", "text,final_rating\nOne.,3\nTwo.,-4\n")
    first = texts_import(format="vidb", paths=[path])
    second = texts_import(format="vidb", paths=[path])

    assert (first.texts_created, first.pool_items_created) == (2, 2)
    assert second.as_dict() == {
        "files": 1, "rows": 2, "texts_created": 0, "texts_existing": 2,
        "pool_items_created": 0, "pool_items_existing": 2,
    }
    assert _counts() == (2, 2, 2)
    records = list(ImportRecord.objects.order_by("id").values_list("file_hash", "texts_created", "rows"))
    assert records[0][0] == records[1][0]
    assert [(created, rows) for _, created, rows in records] == [(2, 2), (0, 2)]


def test_ten_thousand_rows_import_in_a_few_seconds(taxonomy, tmp_path):
    lines = "".join(f"Text number {i} about caring for others.,{(i % 21) - 10}\n" for i in range(10_000))
    path = _write(tmp_path / "care-harm_mft_flag_aggregated.csv", "text,final_rating\n" + lines)
    reports: list[tuple[float, str]] = []

    started = time.monotonic()
    summary = texts_import(format="vidb", paths=[path], progress=lambda p, m: reports.append((p, m)))

    assert time.monotonic() - started < 10
    assert (summary.texts_created, summary.pool_items_created) == (10_000, 10_000)
    assert reports[-1][0] == 1.0
    assert [p for p, _ in reports] == sorted(p for p, _ in reports)


# --- Touché23-ValueEval ---------------------------------------------------------------------------------------

LABEL_HEADER = "Argument ID\tSelf-direction: thought\tStimulation\tBenevolence: caring\tUniversalism: objectivity"


def _touche_pair(folder: Path, split: str, arguments: str, labels: str) -> Path:
    folder.mkdir(exist_ok=True)
    _write(folder / f"labels-{split}.tsv", labels)
    return _write(folder / f"arguments-{split}.tsv", arguments)


def test_touche_premise_goes_to_refined_and_basic_pools_with_metadata(taxonomy, tmp_path):
    arguments = _touche_pair(
        tmp_path / "touche",
        "tiny",
        'Argument ID\tConclusion\tStance\tPremise\nA1\tWe should "help"\tin favor of\tHelping "others" is kind.\n'
        "A2\tArt matters\tagainst\tNew art excites people.\n"
        'A3\tBe kind\tin favor of\tHelping  "others" is kind.\n',
        f"{LABEL_HEADER}\nA1\t0\t0\t1\t1\nA2\t1\t1\t0\t0\nA3\t0\t1\t0\t0\n",
    )

    summary = texts_import(format="touche23", paths=[arguments])

    assert (summary.rows, summary.texts_created, summary.pool_items_created) == (3, 2, 8)
    helping = Text.objects.get(content='Helping "others" is kind.')
    assert helping.metadata["argument_id"] == "A1"
    assert helping.metadata["conclusion"] == 'We should "help"'
    assert helping.metadata["stance"] == "in favor of"
    assert (helping.source, helping.licence) == ("touche23-valueeval", "CC BY 4.0")
    # A3 repeats A1's premise (whitespace aside): one text, both arguments kept, the labels of both applied.
    assert helping.metadata["other_arguments"] == [
        {"argument_id": "A3", "conclusion": "Be kind", "stance": "in favor of"}
    ]
    assert set(helping.pool_items.values_list("value__key", "direction")) == {
        ("benevolence-caring", 1), ("benevolence", 1), ("universalism-objectivity", 1), ("universalism", 1),
        ("stimulation", 1),
    }
    art = Text.objects.get(metadata__argument_id="A2")
    assert set(art.pool_items.values_list("value__key", flat=True)) == {
        "self-direction-thought", "self-direction", "stimulation",
    }


def test_touche_errors_name_the_tsv_file_and_line(taxonomy, tmp_path):
    arguments = _touche_pair(
        tmp_path / "touche",
        "bad",
        "Argument ID\tConclusion\tStance\tPremise\nA1\tC\tin favor of\t\nA2\tC\tagainst\tFine premise.\n",
        f"{LABEL_HEADER}\nA1\t0\t0\t1\t0\nA2\t0\t2\t0\t0\nA3\t0\t0\t0\t1\n",
    )
    with pytest.raises(ApplicationError) as caught:
        texts_import(format="touche23", paths=[arguments])
    assert caught.value.extra["problems"] == [
        "labels-bad.tsv:3: label '2' in column 'Stimulation' must be 0 or 1",
        "arguments-bad.tsv:2: Premise is empty",
        "labels-bad.tsv:4: argument 'A3' is not in arguments-bad.tsv",
    ]
    assert _counts() == (0, 0, 0)


@pytest.mark.skipif(not TOUCHE_DIR.is_dir(), reason="the Touché23-ValueEval data set is not beside the project")
def test_touche_validation_split_imports_with_every_label(taxonomy, tmp_path):
    # The validation pair only, through a directory holding links to it (the training split is not needed here).
    folder = tmp_path / "touche"
    folder.mkdir()
    for name in ("arguments-validation.tsv", "labels-validation.tsv"):
        (folder / name).symlink_to(TOUCHE_DIR / name)

    summary = texts_import(format="touche23", paths=[folder])

    # 1,896 arguments; 35 of them repeat an earlier premise word for word, and each premise is stored once.
    assert summary.rows == 1896
    assert summary.texts_created == Text.objects.count() == 1861
    a01001 = Text.objects.get(metadata__argument_id="A01001")  # labelled Security: societal only
    assert a01001.metadata["conclusion"] == "Entrapment should be legalized"
    assert set(a01001.pool_items.values_list("value__key", flat=True)) == {"security-societal", "security"}
    a02009 = Text.objects.get(metadata__argument_id="A02009")  # Conformity: rules, Universalism: concern, objectivity
    assert set(a02009.pool_items.values_list("value__key", flat=True)) == {
        "conformity-rules", "conformity", "universalism-concern", "universalism-objectivity", "universalism",
    }
    assert not PoolItem.objects.exclude(direction=1).exists()


@pytest.mark.skipif(not TOUCHE_DIR.is_dir(), reason="the Touché23-ValueEval data set is not beside the project")
def test_every_touche_label_column_resolves_in_the_platform_taxonomy(db, tmp_path):
    # The shipped taxonomy, not the test slice: its keys and names must match the data set's 20 categories.
    taxonomy_load()
    labels = (TOUCHE_DIR / "labels-validation.tsv").read_text().splitlines()
    header, first_argument = labels[0], labels[1]  # A01001: Security: societal
    folder = tmp_path / "touche"
    arguments = _touche_pair(
        folder,
        "one",
        "Argument ID\tConclusion\tStance\tPremise\nA01001\tEntrapment should be legalized\tin favor of\tCatch them.\n",
        f"{header}\n{first_argument}\n",
    )

    summary = texts_import(format="touche23", paths=[arguments])

    assert summary.pool_items_created == 2
    assert set(PoolItem.objects.values_list("value__theory__key", "value__key")) == {
        ("svt", "security-societal"), ("svt", "security"),
    }


# --- the job handler and the command --------------------------------------------------------------------------


def test_job_handler_imports_and_reports_progress(taxonomy, tmp_path, researcher):
    path = _write(tmp_path / "care-harm_mft_flag_aggregated.csv", "text,final_rating\nOne.,3\n")
    reports: list[float] = []

    class Context:
        params = {"format": "vidb", "paths": [str(path)], "user_id": researcher.pk}

        @staticmethod
        def report(progress: float, message: str) -> None:
            reports.append(progress)

    result = import_job_handler(Context())

    assert result["texts_created"] == 1
    assert ImportRecord.objects.get().imported_by == researcher
    assert reports[-1] == 1.0


# --- uploads --------------------------------------------------------------------------------------------------


def test_uploaded_names_are_reduced_to_safe_base_names_in_a_fresh_folder(taxonomy, researcher, settings):
    uploads = [
        SimpleUploadedFile("../../etc/care-harm_mft flag.csv", b"text,final_rating\nA.,1\n"),
        SimpleUploadedFile("C:\\Users\\me\\self-direction_pvq.csv", b"text,final_rating\nB.,2\n"),
    ]
    job = import_upload_start(format="vidb", files=uploads, user=researcher)

    stored = [Path(path) for path in job.params["paths"]]
    assert [path.name for path in stored] == ["care-harm_mft_flag.csv", "self-direction_pvq.csv"]
    assert all(path.parent.parent == Path(settings.MEDIA_ROOT) / "imports" for path in stored)
    assert stored[0].read_bytes() == b"text,final_rating\nA.,1\n"


def test_an_upload_naming_the_same_file_twice_is_refused(taxonomy, researcher):
    uploads = [SimpleUploadedFile("care-harm_mft.csv", b"x"), SimpleUploadedFile("care-harm_mft.csv", b"y")]
    with pytest.raises(ApplicationError, match="care-harm_mft.csv: uploaded twice"):
        import_upload_start(format="vidb", files=uploads, user=researcher)


def test_command_prints_one_json_summary_line(taxonomy, tmp_path, capsys):
    path = _write(tmp_path / "care-harm_mft_flag_aggregated.csv", "text,final_rating\nOne.,3\n")
    call_command("import_texts", "--format", "vidb", str(path))
    summary = json.loads(capsys.readouterr().out.strip())
    assert summary == {
        "files": 1, "rows": 1, "texts_created": 1, "texts_existing": 0,
        "pool_items_created": 1, "pool_items_existing": 0,
    }


def test_command_fails_with_the_problems_and_writes_nothing(taxonomy, tmp_path):
    path = _write(tmp_path / "care-harm_mft_flag_aggregated.csv", "text,final_rating\nOne.,eleven\n")
    expected = r"care-harm_mft_flag_aggregated.csv:2: final_rating 'eleven' is not a number"
    with pytest.raises(CommandError, match=expected):
        call_command("import_texts", "--format", "vidb", str(path))
    assert _counts() == (0, 0, 0)


def test_command_line_exits_non_zero_on_bad_input(taxonomy, tmp_path, capsys):
    path = _write(tmp_path / "nothing_here.csv", "text,final_rating\n")
    with pytest.raises(SystemExit) as exited:
        execute_from_command_line(["manage.py", "import_texts", "--format", "vidb", str(path)])
    assert exited.value.code == 1
    assert "nothing_here.csv: file name 'nothing_here.csv' does not fit the VIDB pattern" in capsys.readouterr().err


def test_vidb_cells_escaped_for_spreadsheets_import_as_the_original_text(taxonomy, tmp_path):
    """ValueFlow's snapshot export prefixes a quote to formula-like cells; the importer recovers the exact text."""
    from labeling.models import Text

    folder = tmp_path / "escaped"
    folder.mkdir()
    (folder / "non-maleficence_duty_flag_aggregated.csv").write_text(
        "text,final_rating\n\"'=Keep every promise\",7.5\n\"''+1 to honesty\",3\n"
    )
    texts_import(format="vidb", paths=[folder])
    assert set(Text.objects.values_list("content", flat=True)) >= {"=Keep every promise", "'+1 to honesty"}
