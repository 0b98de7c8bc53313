"""Touché23-ValueEval as HiVES examples (Mirzakhmedova et al., LREC-COLING 2024; CC BY 4.0).

A Touché folder holds `arguments-<split>.tsv` (Argument ID, Conclusion, Stance, Premise) and `labels-<split>.tsv`
(Argument ID + 20 binary columns, one per Schwartz value category such as `Benevolence: caring`); the shipped data
set puts the training and validation splits in ONE folder. A location is therefore written `FOLDER:SPLIT`
(`/data/touche23-valueeval:validation`), or as the path of an arguments file; a folder with a single split needs no
split name.

Each labelled category becomes one example of the argument's premise (the text the platform's importer stores),
with direction "supports": Touché23 says which values an argument draws on, not whether it opposes any. Arguments
without any label are skipped. Category → path follows HiVES's cut of the Schwartz hierarchy (see data.py):
higher-order value → basic value → refined value, keyed like the platform's taxonomy (`svt:benevolence-caring`).
Files are read with a tab delimiter and no quote processing (premises contain quotation marks).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from .data import SUPPORTS, HivesExample, pad_path

# Schwartz basic value → its higher-order value (the first parent in the taxonomy where there are two).
_HIGHER_ORDER = {
    "self-direction": "openness-to-change",
    "stimulation": "openness-to-change",
    "hedonism": "openness-to-change",
    "achievement": "self-enhancement",
    "power": "self-enhancement",
    "face": "self-enhancement",
    "security": "conservation",
    "tradition": "conservation",
    "conformity": "conservation",
    "humility": "self-transcendence",
    "benevolence": "self-transcendence",
    "universalism": "self-transcendence",
}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")


def category_path(category: str) -> tuple[str, ...]:
    """`Power: dominance` → (svt:self-enhancement, svt:power, svt:power-dominance); `Face` → padded 2-level path."""
    basic, _, refined = category.partition(":")
    basic_key = _key(basic)
    if basic_key not in _HIGHER_ORDER:
        raise ValueError(f"Touché label column {category!r} names no Schwartz basic value")
    path = [f"svt:{_HIGHER_ORDER[basic_key]}", f"svt:{basic_key}"]
    if refined.strip():
        path.append(f"svt:{basic_key}-{_key(refined)}")
    return pad_path(path)


def parse_location(location: str) -> tuple[Path, str]:
    """`FOLDER:SPLIT`, `FOLDER` (with one split) or `…/arguments-SPLIT.tsv` → (folder, split)."""
    path = Path(location)
    if path.is_file():
        if not path.name.startswith("arguments-") or path.suffix != ".tsv":
            raise ValueError(f"{location}: a Touché file is named arguments-<split>.tsv")
        return path.parent, path.stem.removeprefix("arguments-")
    if path.is_dir():
        splits = sorted(p.stem.removeprefix("arguments-") for p in path.glob("arguments-*.tsv"))
        if len(splits) != 1:
            found = ", ".join(splits) or "none"
            raise ValueError(f"{location}: name the split as {location}:SPLIT (splits found: {found})")
        return path, splits[0]
    folder, separator, split = location.rpartition(":")
    if separator and Path(folder).is_dir():
        if not (Path(folder) / f"arguments-{split}.tsv").is_file():
            found = ", ".join(sorted(p.stem.removeprefix("arguments-") for p in Path(folder).glob("arguments-*.tsv")))
            raise ValueError(f"{location}: {folder} has no arguments-{split}.tsv (splits found: {found or 'none'})")
        return Path(folder), split
    raise ValueError(f"{location}: no such Touché folder or file")


def is_touche_location(location: str) -> bool:
    try:
        parse_location(location)
    except ValueError:
        return False
    return True


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))


def read_touche(location: str, *, limit: int | None = None) -> list[HivesExample]:
    """The examples of one Touché split; `limit` keeps the first `limit` labelled arguments."""
    folder, split = parse_location(location)
    arguments_path, labels_path = folder / f"arguments-{split}.tsv", folder / f"labels-{split}.tsv"
    if not labels_path.is_file():
        raise ValueError(f"{arguments_path}: its labels file {labels_path.name} is not beside it")
    arguments = _rows(arguments_path)
    labels = _rows(labels_path)
    if not arguments or arguments[0][:1] != ["Argument ID"] or "Premise" not in arguments[0]:
        raise ValueError(f"{arguments_path.name}:1: expected the columns Argument ID, Conclusion, Stance, Premise")
    if not labels or labels[0][:1] != ["Argument ID"]:
        raise ValueError(f"{labels_path.name}:1: expected 'Argument ID' followed by the value category columns")
    premise_column = arguments[0].index("Premise")
    premises = {}
    for line, row in enumerate(arguments[1:], start=2):
        if len(row) != len(arguments[0]):
            raise ValueError(f"{arguments_path.name}:{line}: {len(row)} fields, expected {len(arguments[0])}")
        premises[row[0]] = row[premise_column].strip()
    paths = [category_path(column) for column in labels[0][1:]]
    examples: list[HivesExample] = []
    n_arguments = 0
    for line, row in enumerate(labels[1:], start=2):
        if len(row) != len(labels[0]):
            raise ValueError(f"{labels_path.name}:{line}: {len(row)} fields, expected {len(labels[0])}")
        argument_id = row[0]
        if argument_id not in premises:
            raise ValueError(f"{labels_path.name}:{line}: argument {argument_id!r} is not in {arguments_path.name}")
        flags = row[1:]
        bad = [flag for flag in flags if flag not in {"0", "1"}]
        if bad:
            raise ValueError(f"{labels_path.name}:{line}: labels must be 0 or 1, got {bad[0]!r}")
        chosen = [path for path, flag in zip(paths, flags, strict=True) if flag == "1"]
        if not chosen or not premises[argument_id]:
            continue
        if limit is not None and n_arguments >= limit:
            break
        n_arguments += 1
        for path in chosen:
            examples.append(
                HivesExample(
                    text_id=f"touche:{argument_id}",
                    text=premises[argument_id],
                    theory="svt",
                    path=path,
                    direction=SUPPORTS,
                    value=path[-1],
                )
            )
    return examples
