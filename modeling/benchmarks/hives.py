"""`benchmark hives`: fine-tune HiVES on one data set and measure it against the untuned base model on another.

    python manage.py benchmark hives --train /data/touche23-valueeval:training \
                                     --eval /data/touche23-valueeval:validation [--max-train 5000] [--epochs 2]

`--train` and `--eval` accept:

- a Touché23-ValueEval location: `FOLDER:SPLIT` (the shipped data set keeps the training and validation TSVs in one
  folder, so the split is named after a colon), a folder holding a single split, or an `arguments-SPLIT.tsv` path;
- the platform's own snapshot export (`manage.py snapshot export … --out DIR`, or a snapshot's media folder): its
  `scores.jsonl`, with every value placed in the taxonomy (labeling/data/taxonomy.yaml) and each text's direction
  read from its intensity (|x| < 1 is neutral).

Training settings default to TrainConfig's (modeling/ml/hives/train.py), the defaults of the platform's training
jobs; `--tau`, `--train-layers`, `--lr`, `--epochs`, `--level-floor`, `--rank-weight`, `--stratified-negatives`,
`--stage2-steps` and `--max-length` change them
(docs/benchmarks.md records which setting gave which figures). With `--train-layers`, the frozen lower layers run
once per training text (modeling/ml/hives/frozen.py) unless `--no-cache-frozen`.
Without `--eval`, a fifth of the training texts is held out. The output is one JSON line: `base` and `tuned` (each
with rank_acc, sim_corr, orthogonality, knn_acc per level), `train_seconds` (Stage 1 [+ Stage 2] on --max-train
texts), `embed_per_s` (the base model embedding the evaluation texts, in texts per second) and the setting.
No database is needed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

HELP = "Fine-tune HiVES on --train and compare it with the untuned base model on --eval (Touché23 or a snapshot)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--train", required=True, help="Touché FOLDER:SPLIT, or a snapshot export folder")
    parser.add_argument("--eval", default="", help="the same kinds of location; default: hold out 20%% of --train")
    parser.add_argument("--max-train", type=int, default=5000, help="training texts to use (default 5000)")
    parser.add_argument("--max-eval", type=int, default=0, help="evaluation texts to use (default: all)")
    # Training settings default to TrainConfig's, the defaults of the platform's training jobs.
    parser.add_argument("--epochs", type=float, default=None, help="Stage 1 passes over the training texts")
    parser.add_argument("--stage2-steps", type=int, default=None, help="Stage 2 steps after Stage 1 (default none)")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--tau", type=float, default=None, help="Stage 1 temperature (paper: 0.1)")
    parser.add_argument("--level-floor", choices=("excess", "raw", "off"), default=None,
                        help="how the finer-level floor compares levels (see modeling/ml/hives/losses.py)")
    parser.add_argument("--rank-weight", type=float, default=None,
                        help="weight of the graded pair-ranking term added to Stage 1 (0: off)")
    parser.add_argument("--stratified-negatives", action="store_true",
                        help="fill batches with equal shares of each relation to the anchor (see ml/hives/sampler.py)")
    parser.add_argument("--train-layers", type=int, default=None, help="train only the top N layers (0: all)")
    parser.add_argument("--no-cache-frozen", action="store_true",
                        help="run the frozen lower layers at every step instead of once (see ml/hives/frozen.py)")
    parser.add_argument("--max-length", type=int, default=None, help="tokens per text")
    parser.add_argument("--base-model", default="all-MiniLM-L6-v2", help="a model folder or the packaged default")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: every core)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-queries", type=int, default=2000, help="query texts for rank_acc and sim_corr")


def _examples(location: str) -> list[Any]:
    from modeling.ml.hives.touche import is_touche_location, read_touche

    if is_touche_location(location):
        return read_touche(location)
    folder = Path(location)
    if (folder / "scores.jsonl").is_file():
        return snapshot_examples(folder)
    raise ValueError(
        f"{location}: neither a Touché23-ValueEval location (FOLDER:SPLIT) nor a snapshot export (a folder with "
        "scores.jsonl)"
    )


def snapshot_examples(folder: Path) -> list[Any]:
    """The rows of a snapshot export's scores.jsonl as HiVES examples, placed in the shipped taxonomy."""
    from labeling.services.taxonomy import DEFAULT_TAXONOMY_PATH, taxonomy_parse
    from modeling.ml.hives.data import HivesExample, ValueNode, collapse_labels, direction_from, value_paths

    spec = taxonomy_parse(path=DEFAULT_TAXONOMY_PATH)
    nodes = [
        ValueNode(key=f"{theory.key}:{value.key}", theory=theory.key,
                  parents=tuple(f"{theory.key}:{parent}" for parent in value.parents))
        for theory in spec.theories
        for value in theory.values
    ]
    paths = value_paths(nodes)
    concept_of: dict[str, str] = {}
    for concept in sorted(spec.concepts, key=lambda c: c.key):
        if len({theory for theory, _ in concept.values}) >= 2:
            for theory, value in concept.values:
                concept_of.setdefault(f"{theory}:{value}", concept.key)
    examples = []
    with (folder / "scores.jsonl").open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            value = row.get("value", "")
            if value not in paths:
                raise ValueError(f"{folder / 'scores.jsonl'}:{line_number}: value {value!r} is not in the taxonomy "
                                 "or sits on a level HiVES drops")
            direction = direction_from(None, row.get("intensity"))
            if direction is None:
                continue
            examples.append(
                HivesExample(text_id=row["text_hash"], text=row["text"], theory=value.split(":", 1)[0],
                             path=paths[value], direction=direction, concept=concept_of.get(value), value=value)
            )
    return collapse_labels(examples)


def _first_texts(examples: list[Any], limit: int, seed: int) -> list[Any]:
    """The examples of `limit` texts drawn at random (all texts when limit is 0 or larger than the set)."""
    ids = list(dict.fromkeys(example.text_id for example in examples))
    if not limit or limit >= len(ids):
        return examples
    chosen = set(random.Random(seed).sample(ids, limit))
    return [example for example in examples if example.text_id in chosen]


def _summary(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        "rank_acc": round(metrics["rank_acc"], 4),
        "sim_corr": round(metrics["sim_corr"], 4),
        "orthogonality": round(metrics["orthogonality"], 4),
        "knn_acc": {level: round(value, 4) for level, value in metrics["knn_acc"].items()},
    }


def run(options: dict[str, Any]) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import numpy as np
    import torch

    from modeling.ml.hives.data import split_by_text
    from modeling.ml.hives.encoder import Encoder
    from modeling.ml.hives.metrics import distinct_texts, hierarchy_metrics
    from modeling.ml.hives.train import TrainConfig, train

    threads = options["threads"] or os.cpu_count() or 1
    torch.set_num_threads(threads)
    train_examples = _examples(options["train"])
    if options["eval"]:
        eval_examples = _examples(options["eval"])
    else:
        train_examples, eval_examples = split_by_text(train_examples, held_out_fraction=0.2, seed=options["seed"])
    train_examples = _first_texts(train_examples, options["max_train"], options["seed"])
    eval_examples = _first_texts(eval_examples, options["max_eval"], options["seed"])
    overlap = {e.text_id for e in train_examples} & {e.text_id for e in eval_examples}
    if overlap:
        eval_examples = [example for example in eval_examples if example.text_id not in overlap]

    defaults = TrainConfig()
    chosen = {
        "stage1_epochs": options["epochs"],
        "stage2_steps": options["stage2_steps"],
        "batch_size": options["batch_size"],
        "lr": options["lr"],
        "tau": options["tau"],
        "level_floor": options["level_floor"],
        "train_layers": options["train_layers"],
        "rank_weight": options["rank_weight"],
        "stratified_negatives": True if options["stratified_negatives"] else None,
        "max_length": options["max_length"],
    }
    config = replace(
        defaults,
        **{key: value for key, value in chosen.items() if value is not None},
        cache_frozen=not options["no_cache_frozen"],
        seed=options["seed"],
    )
    config.validate()
    encoder = Encoder.load(options["base_model"], max_length=config.max_length)
    eval_texts = distinct_texts(eval_examples)
    started = time.perf_counter()
    base_vectors = encoder.encode(eval_texts)
    embed_per_s = len(eval_texts) / (time.perf_counter() - started)
    base = hierarchy_metrics(base_vectors, eval_examples, max_queries=options["eval_queries"], seed=options["seed"])

    result = train(encoder, train_examples, config)
    tuned_vectors = encoder.encode(eval_texts)
    tuned = hierarchy_metrics(tuned_vectors, eval_examples, max_queries=options["eval_queries"], seed=options["seed"])
    return {
        "benchmark": "hives",
        "base": _summary(base),
        "tuned": _summary(tuned),
        "delta": {
            "rank_acc": round(tuned["rank_acc"] - base["rank_acc"], 4),
            "sim_corr": round(tuned["sim_corr"] - base["sim_corr"], 4),
        },
        "train_seconds": round(result.seconds, 2),
        "embed_per_s": round(embed_per_s, 1),
        "train_texts": len({e.text_id for e in train_examples}),
        "train_examples": len(train_examples),
        "eval_texts": len(eval_texts),
        "steps": result.steps,
        "first_loss": round(result.loss_curve[0][1], 4),
        "last_loss_mean_20": round(float(np.mean([loss for _, loss in result.loss_curve[-20:]])), 4),
        "threads": threads,
        "device": "cpu",
        "config": {**asdict(config), "base_model": options["base_model"], "max_train": options["max_train"]},
    }
