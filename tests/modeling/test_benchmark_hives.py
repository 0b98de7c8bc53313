"""`manage.py benchmark hives` on a small Touché23-style folder (FOLDER:SPLIT) and on a snapshot export, with a
tiny random encoder: one JSON line with base and tuned metrics, training time and embedding speed."""

import json
from io import StringIO

import pytest
import torch
from django.core.management import CommandError, call_command

from modeling.ml.hives.train import TrainConfig
from tests.modeling.hives_helpers import SYNTHETIC_PATHS, platform_rows, tiny_model_dir

torch.set_num_threads(1)

CATEGORIES = ["Benevolence: caring", "Tradition", "Power: dominance", "Security: personal"]
WORDS = {category: words for category, (_, _, words) in zip(CATEGORIES, [SYNTHETIC_PATHS[i] for i in (0, 3, 5, 4)],
                                                                    strict=True)}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


def _touche_folder(folder):
    folder.mkdir()
    for split, n in (("training", 24), ("validation", 12)):
        arguments = ["Argument ID\tConclusion\tStance\tPremise"]
        labels = ["Argument ID\t" + "\t".join(CATEGORIES)]
        for i in range(n):
            category = CATEGORIES[i % len(CATEGORIES)]
            words = WORDS[category].split()
            arguments.append(f"{split[0]}{i}\tWe should act\tin favor of\t{words[i % 4]} {words[(i + 1) % 4]} {i}")
            labels.append(f"{split[0]}{i}\t" + "\t".join("1" if c == category else "0" for c in CATEGORIES))
        (folder / f"arguments-{split}.tsv").write_text("\n".join(arguments) + "\n")
        (folder / f"labels-{split}.tsv").write_text("\n".join(labels) + "\n")
    return folder


def _run(*args: str) -> dict:
    out = StringIO()
    call_command("benchmark", "hives", *args, stdout=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_touche_folders_with_a_split_name_give_one_json_line(tiny_model, tmp_path):
    folder = _touche_folder(tmp_path / "touche")
    result = _run("--train", f"{folder}:training", "--eval", f"{folder}:validation", "--base-model", str(tiny_model),
                  "--epochs", "2", "--batch-size", "8", "--max-length", "16", "--threads", "1")
    for side in ("base", "tuned"):
        assert set(result[side]) == {"rank_acc", "sim_corr", "orthogonality", "knn_acc"}
        assert set(result[side]["knn_acc"]) == {"level_1", "level_2", "level_3"}
    assert result["train_texts"] == 24 and result["eval_texts"] == 12
    assert result["steps"] == 6 and result["train_seconds"] > 0 and result["embed_per_s"] > 0
    assert result["delta"]["rank_acc"] == pytest.approx(result["tuned"]["rank_acc"] - result["base"]["rank_acc"],
                                                        abs=1e-3)
    # Settings not given are the training jobs' defaults.
    assert result["config"]["lr"] == TrainConfig().lr and result["config"]["train_layers"] == TrainConfig().train_layers


def test_training_only_the_top_layer_trains_from_the_cached_lower_layer(tiny_model, tmp_path):
    folder = _touche_folder(tmp_path / "touche")
    common = ("--train", f"{folder}:training", "--eval", f"{folder}:validation", "--base-model", str(tiny_model),
              "--epochs", "2", "--batch-size", "8", "--max-length", "16", "--threads", "1", "--train-layers", "1")
    cached, uncached = _run(*common), _run(*common, "--no-cache-frozen")
    assert cached["config"]["cache_frozen"] is True and uncached["config"]["cache_frozen"] is False
    assert cached["steps"] == uncached["steps"] == 6
    assert cached["base"] == uncached["base"]


def test_the_ranking_term_and_stratified_batches_are_set_from_the_command(tiny_model, tmp_path):
    folder = _touche_folder(tmp_path / "touche")
    result = _run("--train", f"{folder}:training", "--eval", f"{folder}:validation", "--base-model", str(tiny_model),
                  "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--threads", "1",
                  "--rank-weight", "0.5", "--stratified-negatives")
    assert result["config"]["rank_weight"] == 0.5 and result["config"]["stratified_negatives"] is True
    assert result["steps"] == 3


def test_a_snapshot_export_is_read_through_the_taxonomy(tiny_model, tmp_path):
    folder = tmp_path / "snapshot"
    folder.mkdir()
    with (folder / "scores.jsonl").open("w") as handle:
        for i, row in enumerate(platform_rows(texts_per_value=6)):
            record = {"value": f"{row['theory']}:{row['value']}", "text": row["text"], "text_hash": f"h{i}",
                      "intensity": row["intensity"]}
            handle.write(json.dumps(record) + "\n")
    result = _run("--train", str(folder), "--base-model", str(tiny_model), "--epochs", "1", "--batch-size", "8",
                  "--max-length", "16", "--threads", "1")
    assert result["train_texts"] + result["eval_texts"] == 54, "without --eval a fifth is held out"
    assert result["tuned"]["rank_acc"] is not None


def test_a_location_that_is_neither_kind_is_a_command_error(tmp_path):
    with pytest.raises(CommandError, match="neither a Touché23-ValueEval location"):
        _run("--train", str(tmp_path))
