"""Shared by the HiVES tests: a tiny randomly initialised BERT (the packaged tokenizer, 2 layers of width 32) saved as
a model folder, and small synthetic example sets whose texts carry words of their value path."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

from modeling.ml.hives.data import OPPOSES, SUPPORTS, HivesExample, pad_path

# (theory, path, words that texts of this path use)
SYNTHETIC_PATHS = [
    ("svt", ("svt:self-transcendence", "svt:benevolence", "svt:benevolence-caring"), "care help friend family"),
    ("svt", ("svt:self-transcendence", "svt:benevolence", "svt:benevolence-dependability"), "promise rely loyal trust"),
    ("svt", ("svt:self-transcendence", "svt:universalism"), "nature planet justice equal"),
    ("svt", ("svt:conservation", "svt:tradition"), "custom ancestors ritual heritage"),
    ("svt", ("svt:conservation", "svt:security", "svt:security-personal"), "safe lock health protect"),
    ("svt", ("svt:self-enhancement", "svt:power", "svt:power-dominance"), "control command rule obey"),
]
_FILLER = "the a today we they this that always often people said".split()


def tiny_model_dir(folder: Path) -> Path:
    """A 2-layer, 32-wide BERT with random weights and the packaged all-MiniLM-L6-v2 tokenizer."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from modeling.ml.hives.paths import packaged_base_model_dir

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(packaged_base_model_dir(), local_files_only=True)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def synthetic_examples(*, texts_per_path: int = 6, seed: int = 0, with_opposing: bool = True) -> list[HivesExample]:
    """Texts built from their path's words (plus filler), supporting; with `with_opposing`, a third oppose."""
    rng = random.Random(seed)
    counter = itertools.count()
    examples = []
    for theory, path, words in SYNTHETIC_PATHS:
        for i in range(texts_per_path):
            vocabulary = words.split()
            direction = OPPOSES if with_opposing and i % 3 == 2 else SUPPORTS
            tokens = rng.sample(vocabulary, 3) + rng.sample(_FILLER, 2) + (["not", "never"] if direction < 0 else [])
            rng.shuffle(tokens)
            number = next(counter)
            examples.append(
                HivesExample(
                    text_id=number,
                    text=" ".join(tokens) + f" {number}",
                    theory=theory,
                    path=pad_path(path),
                    direction=direction,
                    value=path[-1],
                )
            )
    return examples


# Values of all four theories with the words their texts use (platform data for service, profile and API tests).
PLATFORM_VALUES = {
    ("svt", "benevolence-caring"): "care help family friend neighbour",
    ("svt", "tradition"): "custom ancestors ritual heritage festival",
    ("svt", "power-dominance"): "control command obey rule boss",
    ("mft", "kindness"): "gentle kind soft warm comfort",
    ("mft", "fairness"): "fair share equal turn cheat",
    ("duties", "fidelity"): "promise keep word vow honour",
    ("duties", "beneficence"): "donate charity give volunteer aid",
    ("rights", "privacy"): "private secret diary surveillance spy",
    ("rights", "education"): "school learn teacher study class",
}


def platform_rows(*, texts_per_value: int = 6, seed: int = 0, start: int = 0) -> list[dict]:
    """Generic-import rows: per value, texts made of its words; a third of them oppose it (with a negative prior)."""
    rng = random.Random(seed)
    rows = []
    for (theory, value), words in PLATFORM_VALUES.items():
        vocabulary = words.split()
        for i in range(texts_per_value):
            opposing = i % 3 == 2
            tokens = rng.sample(vocabulary, 3) + (["not", "never"] if opposing else [])
            rng.shuffle(tokens)
            rows.append(
                {
                    "text": " ".join(tokens) + f" ({value} {start + i})",
                    "theory": theory,
                    "value": value,
                    "direction": "opposes" if opposing else "supports",
                    "intensity": -6.0 + i * 0.1 if opposing else 3.0 + i,
                }
            )
    return rows


def import_platform_texts(folder: Path, *, user=None, **options) -> None:  # type: ignore[no-untyped-def]
    """Write `platform_rows(**options)` as JSON Lines and import them through the import service."""
    import json

    from labeling.services.imports import texts_import

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hives-{options.get('seed', 0)}-{options.get('start', 0)}.jsonl"
    path.write_text("\n".join(json.dumps(row) for row in platform_rows(**options)) + "\n")
    texts_import(format="jsonl", paths=[path], imported_by=user)
