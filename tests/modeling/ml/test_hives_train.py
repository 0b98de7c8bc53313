"""The HiVES training loop on a tiny random encoder: the loss goes down, checkpoints are written every N steps, and a
run killed after a checkpoint resumes from that step — with the same data order — instead of from step 0."""

import pytest
import torch

from modeling.ml.hives.encoder import Encoder
from modeling.ml.hives.train import CHECKPOINT_NAME, TrainConfig, load_checkpoint, mean_loss, train
from tests.modeling.hives_helpers import synthetic_examples, tiny_model_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


def config(**overrides) -> TrainConfig:
    values = {"stage1_steps": 12, "batch_size": 12, "n_positives": 3, "lr": 3e-3, "max_length": 32,
              "checkpoint_every": 4, "seed": 3, "freeze_embeddings": False}
    return TrainConfig(**{**values, **overrides})


class Crash(Exception):
    """Stands in for a worker that dies mid-run."""


def test_training_moves_the_loss_down(tiny_model):
    encoder = Encoder.load(str(tiny_model), max_length=32)
    result = train(encoder, synthetic_examples(texts_per_path=8), config(stage1_steps=40))
    assert result.steps == 40 and len(result.loss_curve) == 40
    assert mean_loss(result.loss_curve[-8:]) < mean_loss(result.loss_curve[:8])


def test_the_ranking_term_adds_its_weight_times_its_value_to_the_stage1_loss(tiny_model):
    examples = synthetic_examples(texts_per_path=6)

    def first_loss(weight: float) -> float:
        result = train(Encoder.load(str(tiny_model), max_length=32), examples, config(stage1_steps=1,
                       rank_weight=weight))
        return result.loss_curve[0][1]

    plain, half, full = first_loss(0.0), first_loss(0.5), first_loss(1.0)
    assert full > plain, "the term adds a positive loss"
    assert full - plain == pytest.approx(2 * (half - plain), rel=1e-4), "weight 0 leaves the plain Stage 1 loss"
    with pytest.raises(ValueError, match="rank_weight cannot be negative"):
        TrainConfig(rank_weight=-1.0).validate()


@pytest.mark.parametrize("rank_weight", [0.0, 1.0])
def test_a_run_killed_after_a_checkpoint_resumes_from_that_step(tiny_model, tmp_path, rank_weight):
    examples = synthetic_examples(texts_per_path=6)
    settings = config(rank_weight=rank_weight)  # with and without the ranking term
    uninterrupted = train(Encoder.load(str(tiny_model), max_length=32), examples, settings)

    checkpoints = tmp_path / "checkpoints"
    saved_at: list[int] = []

    def crash_after_the_second_checkpoint(step: int, total: int, loss: float) -> None:
        if step == 9:  # checkpoints at steps 4 and 8; step 9 is lost with the crash
            raise Crash

    with pytest.raises(Crash):
        train(Encoder.load(str(tiny_model), max_length=32), examples, settings, checkpoint_dir=checkpoints,
              on_step=crash_after_the_second_checkpoint, on_checkpoint=saved_at.append)
    assert saved_at == [4, 8]
    assert load_checkpoint(checkpoints)["step"] == 8

    steps_seen: list[int] = []
    resumed = train(Encoder.load(str(tiny_model), max_length=32), examples, settings, checkpoint_dir=checkpoints,
                    on_step=lambda step, total, loss: steps_seen.append(step))
    assert resumed.resumed_from == 8
    assert steps_seen == [9, 10, 11, 12], "the resumed run continues at step 9, not at step 1"
    assert [step for step, _ in resumed.loss_curve] == list(range(1, 13))
    # Same model, optimiser, schedule and batches as the run that was never interrupted.
    assert [loss for _, loss in resumed.loss_curve] == pytest.approx(
        [loss for _, loss in uninterrupted.loss_curve], rel=1e-4
    )


def test_resuming_with_other_hyperparameters_is_refused(tiny_model, tmp_path):
    examples = synthetic_examples(texts_per_path=4)
    train(Encoder.load(str(tiny_model), max_length=32), examples, config(stage1_steps=5), checkpoint_dir=tmp_path)
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    with pytest.raises(ValueError, match=r"other hyperparameters \(lr: 0.003 → 0.01"):
        train(Encoder.load(str(tiny_model), max_length=32), examples, config(stage1_steps=5, lr=0.01),
              checkpoint_dir=tmp_path)


def test_a_checkpoint_from_before_a_setting_existed_resumes_with_that_settings_default(tiny_model, tmp_path):
    examples = synthetic_examples(texts_per_path=4)

    def crash_after_the_first_checkpoint(step: int, total: int, loss: float) -> None:
        if step == 5:
            raise Crash

    with pytest.raises(Crash):
        train(Encoder.load(str(tiny_model), max_length=32), examples, config(stage1_steps=6), checkpoint_dir=tmp_path,
              on_step=crash_after_the_first_checkpoint)
    saved = load_checkpoint(tmp_path)
    del saved["config"]["cache_frozen"]  # written before the setting existed
    torch.save(saved, tmp_path / CHECKPOINT_NAME)

    resumed = train(Encoder.load(str(tiny_model), max_length=32), examples, config(stage1_steps=6),
                    checkpoint_dir=tmp_path)
    assert resumed.resumed_from == 4 and resumed.steps == 6
    with pytest.raises(ValueError, match=r"other hyperparameters \(cache_frozen: True → False"):
        train(Encoder.load(str(tiny_model), max_length=32), examples, config(stage1_steps=6, cache_frozen=False),
              checkpoint_dir=tmp_path)


def test_stage2_runs_after_stage1_with_its_own_learning_rate(tiny_model):
    from dataclasses import replace

    examples = [
        replace(example, anchor=f"person-{i % 6}", concept=f"concept-{i % 3}",
                theory=["svt", "mft"][i % 2])
        for i, example in enumerate(synthetic_examples(texts_per_path=6))
    ]
    result = train(Encoder.load(str(tiny_model), max_length=32), examples,
                   config(stage1_steps=3, stage2_steps=3, stage2_hierarchical_rows=8, stage2_individual_pairs=3,
                          stage2_concept_pairs=2))
    assert (result.stage1_steps, result.stage2_steps, result.steps) == (3, 3, 6)
    assert all(torch.isfinite(torch.tensor(loss)) for _, loss in result.loss_curve)


def test_hyperparameters_are_checked_with_clear_messages():
    with pytest.raises(ValueError, match="unknown HiVES hyperparameter"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ValueError, match="must be a float"):
        TrainConfig.from_dict({"lr": "fast"})
    with pytest.raises(ValueError, match="n_positives must be between"):
        TrainConfig.from_dict({"batch_size": 4, "n_positives": 4})
    assert TrainConfig.from_dict({"stage1_epochs": "2", "freeze_embeddings": "false"}).freeze_embeddings is False
    assert TrainConfig(stage1_epochs=1.0, batch_size=32).steps(100) == (4, 0)


def test_training_only_the_top_layers_leaves_the_rest_untouched(tiny_model):
    encoder = Encoder.load(str(tiny_model), max_length=32)
    before = {name: p.detach().clone() for name, p in encoder.model.named_parameters()}
    train(encoder, synthetic_examples(texts_per_path=4), config(stage1_steps=3, train_layers=1))
    changed = {name for name, p in encoder.model.named_parameters() if not torch.equal(p, before[name])}
    assert changed, "the top layer trained"
    assert all(name.startswith("encoder.layer.1.") for name in changed), sorted(changed)[:3]
