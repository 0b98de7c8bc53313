"""Text imports: read texts and their value labels from files into `Text` rows and per-value pools.

Four formats, one pipeline (`texts_import`). Every file of a call is parsed and validated first; if any row is bad
nothing is written and the ApplicationError lists the problems as `file:line: reason`. Otherwise everything is
written in one transaction with bulk inserts. Texts are deduplicated by the sha256 of their whitespace-normalised
content, pool memberships by (value, text), so importing the same file twice creates nothing the second time.

- `csv` / `jsonl` (generic): one row per (text, value) with `text`, `theory`, `value`; optional `direction`
  (+1 / -1 / 0 or supports / opposes / neutral), `intensity` (a prior in [-10, 10]), `source`, `language`,
  `licence`. The direction is stored only when the row gives one.
- `vidb` (the public VIDB release): one CSV per value named `{value}_{theory}_<anything>.csv`, e.g.
  `care-harm_mft_flag_aggregated.csv` or `civil_rights_right_flag_aggregated.csv`, with columns `text` and
  `final_rating` in [-10, 10]. The rating becomes `PoolItem.prior_intensity`; the direction is its sign, with a
  dead zone: |rating| < NEUTRAL_DEAD_ZONE (1.0) counts as neutral, because ratings that close to zero mean the
  raters saw no clear stance. A directory imports every `*.csv` in it.
- `touche23` (Touché23-ValueEval, CC BY 4.0): `arguments-<split>.tsv` (Argument ID, Conclusion, Stance, Premise)
  plus the matching `labels-<split>.tsv` beside it (Argument ID + one 0/1 column per refined Schwartz category,
  e.g. `Benevolence: caring`). Both are read as plain tab-separated text (no quote processing: premises contain
  quotation marks). The premise is the text; argument id, conclusion, stance and split go to `Text.metadata`.
  Each positive label puts the text, with direction +1, in the pool of that refined value (`svt:benevolence-caring`)
  AND in the pool of its basic value, the target value (`svt:benevolence`), because campaigns and the VIDB score
  texts at the 32-target-value level. A category that is itself a basic value (`Stimulation`) gives one pool.
"""

import codecs
import csv
import hashlib
import io
import json
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.text import get_valid_filename

from common.exceptions import ApplicationError
from common.models import Job
from common.services import job_create
from common.spreadsheet import csv_unescape_formula
from labeling.models import ImportRecord, PoolItem, Text, Value
from labeling.services.taxonomy import THEORY_ALIASES, normalise_key, value_resolve

FORMATS: dict[str, str] = {
    "csv": "Generic CSV: one row per (text, value) with columns text, theory, value; optional direction "
    "(+1/-1/0 or supports/opposes/neutral), intensity in [-10, 10], source, language, licence.",
    "jsonl": "Generic JSON Lines: one object per line with the same keys as the generic CSV.",
    "vidb": "Public VIDB release: one CSV per value named {value}_{theory}_....csv (e.g. "
    "care-harm_mft_flag_aggregated.csv) with columns text and final_rating in [-10, 10].",
    "touche23": "Touché23-ValueEval: arguments-<split>.tsv together with its labels-<split>.tsv.",
}
# Which files a directory contributes, and which file names an upload may carry, per format.
_FILE_PATTERNS: dict[str, str] = {"csv": "*.csv", "jsonl": "*.jsonl", "vidb": "*.csv", "touche23": "arguments-*.tsv"}
_UPLOAD_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv",), "jsonl": (".jsonl", ".json"), "vidb": (".csv",), "touche23": (".tsv",),
}

MAX_TEXT_CHARS = 20_000
INTENSITY_MIN, INTENSITY_MAX = -10.0, 10.0
NEUTRAL_DEAD_ZONE = 1.0  # |final_rating| below this is a neutral VIDB text
MAX_LISTED_PROBLEMS = 20
TOUCHE_SOURCE, TOUCHE_LICENCE = "touche23-valueeval", "CC BY 4.0"

_DIRECTIONS: dict[str, int] = {
    "+1": 1, "1": 1, "1.0": 1, "supports": 1, "support": 1, "pro": 1,
    "-1": -1, "-1.0": -1, "opposes": -1, "oppose": -1, "con": -1,
    "0": 0, "0.0": 0, "neutral": 0,
}
_TOUCHE_ARGUMENT_COLUMNS = ("Argument ID", "Conclusion", "Stance", "Premise")
_ID_BATCH = 900  # ids per `__in` query; stays under SQLite's bound-parameter limit
_INSERT_BATCH = 1000
# The csv module refuses fields over 128 KiB by default; raise the bound so an over-long text is reported
# as "text has N characters" instead of as an unreadable file.
csv.field_size_limit(max(csv.field_size_limit(), 16 * MAX_TEXT_CHARS))

ProgressCallback = Callable[[float, str], None]


@dataclass
class ImportSummary:
    """What one import call did, summed over its files."""

    files: int = 0
    rows: int = 0
    texts_created: int = 0
    texts_existing: int = 0
    pool_items_created: int = 0
    pool_items_existing: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def text_content_hash(content: str) -> str:
    """sha256 of the content with runs of whitespace collapsed: the identity of a text on the platform."""
    return hashlib.sha256(" ".join(content.split()).encode("utf-8")).hexdigest()


# --- parsing -------------------------------------------------------------------------------------------------


@dataclass
class _ParsedText:
    content: str
    content_hash: str
    language: str
    source: str
    licence: str
    metadata: dict[str, Any]


@dataclass
class _ParsedMembership:
    content_hash: str
    value_id: int
    direction: int | None
    prior_intensity: float | None
    source: str


@dataclass
class _ParsedFile:
    """One validated file, ready to write: its texts (first occurrence of each hash wins) and pool memberships."""

    name: str
    file_hash: str
    format: str
    rows: int = 0
    texts: dict[str, _ParsedText] = field(default_factory=dict)
    memberships: dict[tuple[int, str], _ParsedMembership] = field(default_factory=dict)

    def add(self, text: _ParsedText, memberships: Iterable[_ParsedMembership]) -> None:
        self.texts.setdefault(text.content_hash, text)
        for membership in memberships:
            self.memberships.setdefault((membership.value_id, membership.content_hash), membership)


class _Problems:
    """Collects `file:line: reason` lines across all files of a call, so the researcher sees them at once."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def add(self, name: str, line: int | None, reason: str) -> None:
        self.lines.append(f"{name}:{line}: {reason}" if line is not None else f"{name}: {reason}")

    def __len__(self) -> int:
        return len(self.lines)

    def raise_if_any(self, *, files: int) -> None:
        if not self.lines:
            return
        count = len(self.lines)
        listed = self.lines[:MAX_LISTED_PROBLEMS]
        more = f"\n… and {count - len(listed)} more problems" if count > len(listed) else ""
        noun = "problem" if count == 1 else "problems"
        message = f"Import rejected, nothing was written: {count} {noun} in {files} file(s).\n" + "\n".join(listed)
        raise ApplicationError(message + more, extra={"problems": listed, "problem_count": count})


class _ValueCache:
    """Resolves (theory, value) spellings once per call; a failed lookup keeps its message for every bad row."""

    def __init__(self) -> None:
        self._found: dict[tuple[str, str], Value | str] = {}

    def get(self, theory: str, value: str) -> Value | str:
        key = (theory.strip(), value.strip())
        if key not in self._found:
            try:
                self._found[key] = value_resolve(theory=key[0], value=key[1])
            except LookupError as exc:
                self._found[key] = str(exc.args[0] if exc.args else exc)
        return self._found[key]


def _decode(data: bytes, name: str, problems: _Problems) -> str | None:
    """UTF-8 (a byte-order mark is allowed) without NUL characters; otherwise one problem naming the line of the
    first bad byte."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.add(
            name, line, f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        )
        return None
    if "\x00" in text:
        # PostgreSQL cannot store NUL in text; it mostly means UTF-16 read as UTF-8, or a binary file.
        offset = text.index("\x00")
        problems.add(
            name, text.count("\n", 0, offset) + 1,
            "contains a NUL character (byte 0x00), which no text may hold; is the file UTF-16 or binary? "
            "Save it as UTF-8 text",
        )
        return None
    return text


def _check_text(raw: Any, column: str) -> tuple[str | None, str | None]:
    """(content, problem): content is stripped; empty or over-long texts are problems."""
    if raw is None:
        return None, f"{column} is empty"
    if not isinstance(raw, str):
        return None, f"{column} must be a string, not {type(raw).__name__}"
    content = raw.strip()
    if not content:
        return None, f"{column} is empty"
    if len(content) > MAX_TEXT_CHARS:
        return None, f"{column} has {len(content):,} characters; the limit is {MAX_TEXT_CHARS:,}"
    if "\x00" in content:  # a JSON "\u0000" escape reaches here; PostgreSQL cannot store NUL in text
        return None, f"{column} contains a NUL character (\\u0000), which no text may hold"
    return content, None


def _parse_intensity(raw: Any, column: str) -> tuple[float | None, str | None]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    if isinstance(raw, bool):  # JSON true/false would otherwise pass as 1.0/0.0
        return None, f"{column} {raw!r} is not a number"
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError):
        return None, f"{column} {raw!r} is not a number"
    if not math.isfinite(number) or not INTENSITY_MIN <= number <= INTENSITY_MAX:
        return None, f"{column} {raw if isinstance(raw, str) else number} is outside [-10, 10]"
    return number, None


def _parse_direction(raw: Any) -> tuple[int | None, str | None]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, None
    key = str(raw).strip().lower()
    if key not in _DIRECTIONS:
        return None, f"direction {raw!r} is not one of +1, -1, 0, supports, opposes, neutral"
    return _DIRECTIONS[key], None


def _direction_from_rating(rating: float) -> int:
    if abs(rating) < NEUTRAL_DEAD_ZONE:
        return PoolItem.Direction.NEUTRAL
    return PoolItem.Direction.SUPPORTS if rating > 0 else PoolItem.Direction.OPPOSES


def _short_string(raw: Any, column: str, max_length: int, default: str) -> tuple[str, str | None]:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return default, None
    if not isinstance(raw, str):
        return default, f"{column} must be a string"
    value = raw.strip()
    if len(value) > max_length:
        return default, f"{column} is longer than {max_length} characters"
    if "\x00" in value:
        return default, f"{column} contains a NUL character (\\u0000)"
    return value, None


def _csv_records(text: str, name: str, problems: _Problems, **reader_options: Any) -> Iterator[tuple[int, list[str]]]:
    """(first line of the record, fields) for each CSV record; a malformed record is a problem, not a crash."""
    reader = csv.reader(io.StringIO(text, newline=""), **reader_options)
    previous_end = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problems.add(name, reader.line_num, f"unreadable CSV: {exc}")
            return
        start, previous_end = previous_end + 1, reader.line_num
        if record:
            yield start, record


def _header_index(
    header: list[str], required: Sequence[str], optional: Sequence[str], name: str, problems: _Problems
) -> dict[str, int] | None:
    """Column positions by lower-cased name; each missing required column is a problem that lists what was found."""
    positions: dict[str, int] = {}
    for index, column in enumerate(header):
        positions.setdefault(column.strip().lower(), index)
    missing = [column for column in required if column.lower() not in positions]
    found = ", ".join(column.strip() for column in header) or "(nothing)"
    for column in missing:
        problems.add(name, 1, f"missing required column {column!r} (found columns: {found})")
    if missing:
        return None
    return {column: positions[column.lower()] for column in (*required, *optional) if column.lower() in positions}


def _row_dict(columns: dict[str, int], record: list[str]) -> dict[str, str | None]:
    return {column: (record[index] if index < len(record) else None) for column, index in columns.items()}


_GENERIC_REQUIRED = ("text", "theory", "value")
_GENERIC_OPTIONAL = ("direction", "intensity", "source", "language", "licence")


def _resolve_row_value(row: dict[str, Any], values: _ValueCache) -> tuple[Value | None, list[str]]:
    """The value a generic row names by its `theory` and `value` columns, or why it names none."""
    theory, value = row.get("theory"), row.get("value")
    reasons = [
        f"{column} is empty" if raw is None or raw == "" else f"{column} must be a string, not {type(raw).__name__}"
        for column, raw in (("theory", theory), ("value", value))
        if not (isinstance(raw, str) and raw.strip())
    ]
    # a JSON "\u0000" escape would otherwise reach the database lookup, which cannot carry NUL
    reasons += [f"{column} contains a NUL character (\\u0000)" for column, raw in (("theory", theory), ("value", value))
                if isinstance(raw, str) and "\x00" in raw]
    if reasons or not isinstance(theory, str) or not isinstance(value, str):  # (both are strings when no reason)
        return None, reasons
    resolved = values.get(theory, value)
    return (None, [resolved]) if isinstance(resolved, str) else (resolved, [])


def _generic_row(
    row: dict[str, Any], line: int, parsed: _ParsedFile, values: _ValueCache, problems: _Problems
) -> None:
    """Validate one generic (csv/jsonl) row and add it to the parsed file; each problem is recorded."""
    content, text_problem = _check_text(row.get("text"), "text")
    value, value_problems = _resolve_row_value(row, values)
    direction, direction_problem = _parse_direction(row.get("direction"))
    intensity, intensity_problem = _parse_intensity(row.get("intensity"), "intensity")
    source, source_problem = _short_string(row.get("source"), "source", 200, parsed.name[:200])
    language, language_problem = _short_string(row.get("language"), "language", 16, "en")
    licence, licence_problem = _short_string(row.get("licence"), "licence", 100, "")
    reasons = [
        reason
        for reason in (text_problem, *value_problems, direction_problem, intensity_problem, source_problem,
                       language_problem, licence_problem)
        if reason
    ]
    for reason in reasons:
        problems.add(parsed.name, line, reason)
    if reasons or content is None or value is None:
        return
    content_hash = text_content_hash(content)
    parsed.add(
        _ParsedText(content, content_hash, language, source, licence, {"imported_from": parsed.name}),
        [_ParsedMembership(content_hash, value.pk, direction, intensity, source)],
    )


def _parse_generic_csv(path: Path, data: bytes, values: _ValueCache, problems: _Problems) -> _ParsedFile:
    parsed = _ParsedFile(name=path.name, file_hash=hashlib.sha256(data).hexdigest(), format="csv")
    text = _decode(data, parsed.name, problems)
    if text is None:
        return parsed
    records = _csv_records(text, parsed.name, problems)
    header = next(records, None)
    if header is None:
        problems.add(parsed.name, 1, "the file is empty")
        return parsed
    columns = _header_index(header[1], _GENERIC_REQUIRED, _GENERIC_OPTIONAL, parsed.name, problems)
    if columns is None:
        return parsed
    for line, record in records:
        parsed.rows += 1
        if len(record) > len(header[1]):
            problems.add(parsed.name, line, f"the row has {len(record)} fields but the header has {len(header[1])}")
            continue
        _generic_row(_row_dict(columns, record), line, parsed, values, problems)
    if parsed.rows == 0:
        problems.add(parsed.name, 1, "the file has a header but no rows")
    return parsed


def _parse_generic_jsonl(path: Path, data: bytes, values: _ValueCache, problems: _Problems) -> _ParsedFile:
    parsed = _ParsedFile(name=path.name, file_hash=hashlib.sha256(data).hexdigest(), format="jsonl")
    text = _decode(data, parsed.name, problems)
    if text is None:
        return parsed
    for line, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        parsed.rows += 1
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as exc:
            problems.add(parsed.name, line, f"not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(row, dict):
            problems.add(parsed.name, line, f"expected a JSON object, found {type(row).__name__}")
            continue
        row = {str(key).strip().lower(): item for key, item in row.items()}
        missing = [key for key in _GENERIC_REQUIRED if key not in row]
        if missing:
            found = ", ".join(row) or "(none)"
            for key in missing:
                problems.add(parsed.name, line, f"missing required key {key!r} (found keys: {found})")
            continue
        _generic_row(row, line, parsed, values, problems)
    if parsed.rows == 0:
        problems.add(parsed.name, 1, "the file has no rows")
    return parsed


def vidb_file_value(*, file_name: str) -> Value:
    """The value a VIDB release file is about, read from its name `{value}_{theory}_<suffix>.csv`.

    The value part may itself contain `_` (`civil_rights_right_flag_aggregated.csv`), so the theory code is the
    right-most `_`-separated token that names a theory, with at least one token before it. Raises LookupError
    with a message naming the file and what did not fit.
    """
    stem = Path(file_name).name.removesuffix(".csv").removesuffix(".CSV")
    tokens = stem.split("_")
    theory_positions = [i for i in range(1, len(tokens)) if normalise_key(tokens[i]) in THEORY_ALIASES]
    if not theory_positions:
        codes = ", ".join(sorted({"pvq", "svt", "mft", "duty", "right", "rights"}))
        raise LookupError(
            f"file name {file_name!r} does not fit the VIDB pattern {{value}}_{{theory}}_….csv: "
            f"no theory code ({codes}) follows the value"
        )
    first_error = ""
    # Right-most first; fall back to earlier positions only if the value part does not resolve there.
    for position in reversed(theory_positions):
        value_part, theory_part = "_".join(tokens[:position]), tokens[position]
        try:
            return value_resolve(theory=theory_part, value=value_part)
        except LookupError as exc:
            first_error = first_error or f"file name {file_name!r}: {exc.args[0] if exc.args else exc}"
    raise LookupError(first_error)


def _parse_vidb(path: Path, data: bytes, values: _ValueCache, problems: _Problems) -> _ParsedFile:
    parsed = _ParsedFile(name=path.name, file_hash=hashlib.sha256(data).hexdigest(), format="vidb")
    try:
        value = vidb_file_value(file_name=path.name)
    except LookupError as exc:
        problems.add(parsed.name, None, str(exc.args[0] if exc.args else exc))
        return parsed
    text = _decode(data, parsed.name, problems)
    if text is None:
        return parsed
    records = _csv_records(text, parsed.name, problems)
    header = next(records, None)
    if header is None:
        problems.add(parsed.name, 1, "the file is empty")
        return parsed
    columns = _header_index(header[1], ("text", "final_rating"), (), parsed.name, problems)
    if columns is None:
        return parsed
    for line, record in records:
        parsed.rows += 1
        row = _row_dict(columns, record)
        # VIDB files exported by ValueFlow escape formula-like cells for spreadsheets; recover the exact text.
        raw_text = row["text"]
        content, text_problem = _check_text(csv_unescape_formula(raw_text) if raw_text else raw_text, "text")
        rating, rating_problem = _parse_intensity(row["final_rating"], "final_rating")
        if rating is None and rating_problem is None:
            rating_problem = "final_rating is empty"
        for problem in (text_problem, rating_problem):
            if problem:
                problems.add(parsed.name, line, problem)
        if content is None or rating is None or text_problem or rating_problem:
            continue
        content_hash = text_content_hash(content)
        parsed.add(
            _ParsedText(content, content_hash, "en", "vidb", "", {"imported_from": parsed.name}),
            [_ParsedMembership(content_hash, value.pk, _direction_from_rating(rating), rating, parsed.name)],
        )
    if parsed.rows == 0:
        problems.add(parsed.name, 1, "the file has a header but no rows")
    return parsed


def _touche_label_values(
    header: list[str], name: str, values: _ValueCache, problems: _Problems
) -> list[tuple[int, list[int]]] | None:
    """For each label column: (column index, value ids it adds): the refined value and its basic value."""
    if not header or header[0].strip() != "Argument ID":
        found = ", ".join(header) or "(nothing)"
        problems.add(name, 1, f"missing required column 'Argument ID' as the first column (found columns: {found})")
        return None
    label_values: list[tuple[int, list[int]]] = []
    for index, column in enumerate(header[1:], start=1):
        basic_name = column.split(":", 1)[0]
        refined, basic = values.get("svt", column), values.get("svt", basic_name)
        if isinstance(refined, str) or isinstance(basic, str):
            reason = refined if isinstance(refined, str) else basic
            problems.add(name, 1, f"label column {column!r} names no Schwartz value: {reason}")
            continue
        label_values.append((index, sorted({refined.pk, basic.pk})))
    if len(header) < 2:
        problems.add(name, 1, "the labels file has no label columns after 'Argument ID'")
    return label_values


def _read_touche_labels(
    path: Path, data: bytes, values: _ValueCache, problems: _Problems
) -> dict[str, tuple[int, list[int]]] | None:
    """argument id → (line, value ids of its positive labels); None when the file cannot be read at all."""
    text = _decode(data, path.name, problems)
    if text is None:
        return None
    records = _csv_records(text, path.name, problems, delimiter="\t", quoting=csv.QUOTE_NONE)
    first = next(records, None)
    header = first[1] if first else []
    label_values = _touche_label_values(header, path.name, values, problems)
    if label_values is None:
        return None
    labels: dict[str, tuple[int, list[int]]] = {}
    for line, record in records:
        if len(record) != len(header):
            problems.add(path.name, line, f"the row has {len(record)} fields, expected {len(header)}")
            continue
        value_ids: set[int] = set()
        for index, ids in label_values:
            flag = record[index].strip()
            if flag not in {"0", "1"}:
                problems.add(path.name, line, f"label {flag!r} in column {header[index]!r} must be 0 or 1")
            elif flag == "1":
                value_ids.update(ids)
        argument_id = record[0].strip()
        if argument_id in labels:
            first_line = labels[argument_id][0]
            problems.add(path.name, line, f"argument {argument_id!r} is already labelled on line {first_line}")
        labels[argument_id] = (line, sorted(value_ids))
    return labels


def _parse_touche(arguments_path: Path, values: _ValueCache, problems: _Problems) -> _ParsedFile | None:
    """One arguments file and its labels file → one parsed file (the arguments, which hold the texts)."""
    labels_path = arguments_path.with_name("labels-" + arguments_path.name.removeprefix("arguments-"))
    split = arguments_path.stem.removeprefix("arguments-")
    if not labels_path.is_file():
        problems.add(arguments_path.name, None, f"its labels file {labels_path.name} is not beside it")
        return None
    arguments_data, labels_data = arguments_path.read_bytes(), labels_path.read_bytes()
    parsed = _ParsedFile(
        name=arguments_path.name,
        # The import is of the pair: a change to either file is a different import.
        file_hash=hashlib.sha256(arguments_data + b"\0" + labels_data).hexdigest(),
        format="touche23",
    )
    labels = _read_touche_labels(labels_path, labels_data, values, problems)

    arguments_text = _decode(arguments_data, arguments_path.name, problems)
    if arguments_text is None:
        return parsed
    records = _csv_records(arguments_text, arguments_path.name, problems, delimiter="\t", quoting=csv.QUOTE_NONE)
    header = next(records, None)
    columns = _header_index(header[1] if header else [], _TOUCHE_ARGUMENT_COLUMNS, (), arguments_path.name, problems)
    if columns is None:
        return parsed
    seen_arguments: set[str] = set()
    for line, record in records:
        parsed.rows += 1
        row = _row_dict(columns, record)
        argument_id = (row["Argument ID"] or "").strip()
        content, problem = _check_text(row["Premise"], "Premise")
        if problem:
            problems.add(parsed.name, line, problem)
        if not argument_id:
            problems.add(parsed.name, line, "Argument ID is empty")
            continue
        seen_arguments.add(argument_id)
        if labels is not None and argument_id not in labels:
            problems.add(parsed.name, line, f"argument {argument_id!r} has no row in {labels_path.name}")
            continue
        if content is None or problem:
            continue
        content_hash = text_content_hash(content)
        argument = {
            "argument_id": argument_id,
            "conclusion": (row["Conclusion"] or "").strip(),
            "stance": (row["Stance"] or "").strip(),
        }
        known = parsed.texts.get(content_hash)
        if known is not None:
            # The same premise backs several arguments: one text, and its metadata keeps every argument.
            known.metadata.setdefault("other_arguments", []).append(argument)
        memberships = [
            _ParsedMembership(content_hash, value_id, PoolItem.Direction.SUPPORTS, None, f"{TOUCHE_SOURCE}:{split}")
            for value_id in (labels or {}).get(argument_id, (0, []))[1]
        ]
        metadata = {**argument, "dataset": TOUCHE_SOURCE, "split": split}
        parsed.add(_ParsedText(content, content_hash, "en", TOUCHE_SOURCE, TOUCHE_LICENCE, metadata), memberships)
    for argument_id, (line, _) in (labels or {}).items():
        if argument_id not in seen_arguments:
            problems.add(labels_path.name, line, f"argument {argument_id!r} is not in {arguments_path.name}")
    if parsed.rows == 0:
        problems.add(parsed.name, 1, "the file has a header but no arguments")
    return parsed


def _expand_paths(*, format: str, paths: Sequence[str | Path], problems: _Problems) -> list[Path]:
    """The files a call imports: directories expand to the format's files; Touché labels files map to their
    arguments file, so an upload of both halves imports each pair once."""
    pattern = _FILE_PATTERNS[format]
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.glob(pattern) if p.is_file())
            if not found:
                problems.add(str(path), None, f"the directory holds no {pattern} file")
            files += found
        elif path.is_file():
            if format == "touche23" and path.name.startswith("labels-"):
                path = path.with_name("arguments-" + path.name.removeprefix("labels-"))
                if not path.is_file():
                    problems.add(Path(raw).name, None, f"its arguments file {path.name} is not beside it")
                    continue
            files.append(path)
        else:
            problems.add(str(path), None, "no such file or directory")
    unique = list(dict.fromkeys(p.resolve() for p in files))
    if not unique and not problems:
        problems.add("(no path)", None, "give at least one file or directory to import")
    return unique


def _parse_all(
    *, format: str, paths: Sequence[str | Path], problems: _Problems, progress: ProgressCallback
) -> list[_ParsedFile]:
    files = _expand_paths(format=format, paths=paths, problems=problems)
    values = _ValueCache()
    parsed: list[_ParsedFile] = []
    for number, path in enumerate(files, start=1):
        progress(0.5 * (number - 1) / max(1, len(files)), f"Checking {path.name} ({number}/{len(files)})")
        if format == "touche23":
            touche = _parse_touche(path, values, problems)
            if touche is not None:
                parsed.append(touche)
            continue
        data = path.read_bytes()
        reader = {"csv": _parse_generic_csv, "jsonl": _parse_generic_jsonl, "vidb": _parse_vidb}[format]
        parsed.append(reader(path, data, values, problems))
    return parsed


# --- writing -------------------------------------------------------------------------------------------------


def _chunks(items: Sequence[Any], size: int = _ID_BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _write_file(parsed: _ParsedFile, *, imported_by: Any, summary: ImportSummary) -> None:
    """Insert the file's new texts and pool items (call inside the import transaction) and record the import."""
    hashes = list(parsed.texts)
    existing_hashes: set[str] = set()
    for chunk in _chunks(hashes):
        existing_hashes.update(Text.objects.filter(content_hash__in=chunk).values_list("content_hash", flat=True))
    new_texts = [
        Text(
            content=t.content, content_hash=t.content_hash, language=t.language,
            source=t.source, licence=t.licence, metadata=t.metadata,
        )
        for h, t in parsed.texts.items()
        if h not in existing_hashes
    ]
    # ignore_conflicts: a concurrent import of the same text must not fail this one.
    Text.objects.bulk_create(new_texts, batch_size=_INSERT_BATCH, ignore_conflicts=True)
    text_ids: dict[str, int] = {}
    for chunk in _chunks(hashes):
        text_ids.update(Text.objects.filter(content_hash__in=chunk).values_list("content_hash", "id"))

    ids = list(set(text_ids.values()))
    existing_pairs: set[tuple[int, int]] = set()
    for chunk in _chunks(ids):
        existing_pairs.update(PoolItem.objects.filter(text_id__in=chunk).values_list("value_id", "text_id"))
    new_items = [
        PoolItem(
            value_id=m.value_id, text_id=text_ids[m.content_hash], direction=m.direction,
            prior_intensity=m.prior_intensity, source=m.source[:200],
        )
        for m in parsed.memberships.values()
        if (m.value_id, text_ids[m.content_hash]) not in existing_pairs
    ]
    PoolItem.objects.bulk_create(new_items, batch_size=_INSERT_BATCH, ignore_conflicts=True)

    ImportRecord.objects.create(
        file_hash=parsed.file_hash,
        file_name=parsed.name[:300],
        format=parsed.format,
        rows=parsed.rows,
        texts_created=len(new_texts),
        pool_items_created=len(new_items),
        imported_by=imported_by if getattr(imported_by, "pk", None) else None,
    )
    summary.files += 1
    summary.rows += parsed.rows
    summary.texts_created += len(new_texts)
    summary.texts_existing += len(parsed.texts) - len(new_texts)
    summary.pool_items_created += len(new_items)
    summary.pool_items_existing += len(parsed.memberships) - len(new_items)


def texts_import(
    *,
    format: str,
    paths: Sequence[str | Path],
    imported_by: Any = None,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Import texts and pool memberships from files (see the module docstring for the formats).

    All files are validated before anything is written; any problem raises ApplicationError listing
    `file:line: reason` and leaves the database unchanged. Re-importing a file creates nothing and is recorded.
    """
    if format not in FORMATS:
        raise ApplicationError(
            f"Unknown import format {format!r}; choose one of {', '.join(FORMATS)}.", extra={"format": format}
        )
    report = progress or (lambda fraction, message: None)
    problems = _Problems()
    parsed = _parse_all(format=format, paths=paths, problems=problems, progress=report)
    problems.raise_if_any(files=max(1, len(parsed)))

    summary = ImportSummary()
    with transaction.atomic():
        for number, parsed_file in enumerate(parsed, start=1):
            report(0.5 + 0.5 * (number - 1) / len(parsed), f"Writing {parsed_file.name} ({number}/{len(parsed)})")
            _write_file(parsed_file, imported_by=imported_by, summary=summary)
    report(1.0, f"Imported {summary.files} file(s): {summary.texts_created} new texts, "
           f"{summary.pool_items_created} new pool items.")
    return summary


def import_job_handler(ctx: Any) -> dict[str, Any]:
    """Job `labeling.import_texts`: params {"format", "paths", "user_id"}; returns the import summary."""
    from accounts.models import User

    params = ctx.params
    user = User.objects.filter(pk=params.get("user_id")).first() if params.get("user_id") else None
    summary = texts_import(format=params["format"], paths=params["paths"], imported_by=user, progress=ctx.report)
    return summary.as_dict()


# --- uploads -------------------------------------------------------------------------------------------------


def _upload_names_check(*, format: str, names: list[str]) -> list[str]:
    """Problems with the names of an upload that can be seen before any byte is read."""
    suffixes = _UPLOAD_SUFFIXES[format]
    problems = [
        f"{name}: a {format} import takes {' or '.join(suffixes)} files"
        for name in names
        if not name.lower().endswith(suffixes)
    ]
    if format == "touche23":
        present = set(names)
        for name in names:
            if name.startswith("arguments-"):
                partner = "labels-" + name.removeprefix("arguments-")
            elif name.startswith("labels-"):
                partner = "arguments-" + name.removeprefix("labels-")
            else:
                problems.append(f"{name}: Touché23 files are named arguments-<split>.tsv and labels-<split>.tsv")
                continue
            if partner not in present:
                problems.append(f"{name}: upload {partner} with it")
    return problems


def import_upload_start(*, format: str, files: Sequence[UploadedFile], user: Any) -> Job:
    """Store uploaded files under MEDIA_ROOT/imports/<uuid>/ and start an import job for them.

    Names are reduced to safe base names (no directories); size, suffix and pairing problems raise
    ApplicationError before anything is stored. Row-level validation happens in the job.
    """
    if format not in FORMATS:
        raise ApplicationError(f"Unknown import format {format!r}; choose one of {', '.join(FORMATS)}.")
    if not files:
        raise ApplicationError("Choose at least one file to import.")
    limit = settings.VALUEFLOW_MAX_IMPORT_BYTES
    problems: list[str] = []
    names: list[str] = []
    for upload in files:
        original = upload.name or ""
        try:
            name = get_valid_filename(Path(original.replace("\\", "/")).name)
        except SuspiciousFileOperation:
            problems.append(f"{original!r}: not a usable file name")
            continue
        if name in names:
            problems.append(f"{name}: uploaded twice")
        if upload.size is not None and upload.size > limit:
            problems.append(f"{name}: {upload.size:,} bytes is over the limit of {limit:,} bytes")
        names.append(name)
    problems += _upload_names_check(format=format, names=names)
    if problems:
        raise ApplicationError("The upload was refused: " + "; ".join(problems), extra={"problems": problems})

    folder = Path(settings.MEDIA_ROOT) / "imports" / uuid.uuid4().hex
    folder.mkdir(parents=True)
    stored: list[str] = []
    for upload, name in zip(files, names, strict=True):
        destination = folder / name
        with destination.open("wb") as out:
            for chunk in upload.chunks():
                out.write(chunk)
        stored.append(str(destination))

    return job_create(
        kind="labeling.import_texts",
        params={"format": format, "paths": stored, "user_id": getattr(user, "pk", None)},
        created_by=user,
        title=f"Import {len(stored)} {format} file(s)",
    )
