"""The HiVES encoder: pooling (mean and last token, left or right padding), unit vectors in input order, batching that
does not change results, save/load; and, on the real packaged all-MiniLM-L6-v2, embedding and a tiny training run."""

import numpy as np
import pytest
import torch

from modeling.ml.hives.encoder import Encoder, default_pooling, pool
from modeling.ml.hives.paths import ModelNotFound, packaged_base_model_dir, resolve_model_path
from tests.modeling.hives_helpers import synthetic_examples, tiny_model_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


def test_mean_pooling_ignores_padding_and_last_token_pooling_finds_the_last_real_token():
    hidden = torch.tensor([[[1.0, 0], [3.0, 0], [100.0, 100.0]], [[0, 2.0], [0, 4.0], [0, 6.0]]])
    right_padded = torch.tensor([[1, 1, 0], [1, 1, 1]])
    mean = pool(hidden, right_padded, "mean")
    assert torch.allclose(mean[0], torch.tensor([1.0, 0.0]))  # (1+3)/2 = 2 → normalised
    last = pool(hidden, right_padded, "last_token")
    assert torch.allclose(last[0], torch.tensor([1.0, 0.0])) and torch.allclose(last[1], torch.tensor([0.0, 1.0]))
    left_padded = torch.tensor([[0, 1, 1], [1, 1, 1]])
    assert torch.allclose(pool(hidden, left_padded, "last_token")[0], torch.tensor([1.0, 1.0]) / 2**0.5)
    with pytest.raises(ValueError, match="pooling must be one of"):
        pool(hidden, right_padded, "max")


def test_decoder_models_default_to_last_token_pooling():
    class Config:
        model_type, architectures = "qwen3", ["Qwen3ForCausalLM"]

    class Bert:
        model_type, architectures = "bert", ["BertModel"]

    assert default_pooling(Config()) == "last_token"
    assert default_pooling(Bert()) == "mean"


def test_encode_returns_unit_vectors_in_input_order_whatever_the_batch(tiny_model, tmp_path):
    encoder = Encoder.load(str(tiny_model), max_length=16)
    texts = ["a much longer text about caring for the family and friends", "short", "a middle one here", "x"]
    vectors = encoder.encode(texts, batch_size=2)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 32)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([encoder.encode([text]) for text in texts])
    assert np.allclose(vectors, one_by_one, atol=1e-5)
    encoder.save(tmp_path / "saved")
    assert np.allclose(Encoder.load(str(tmp_path / "saved"), max_length=16).encode(texts), vectors, atol=1e-6)


def test_model_locations_never_reach_for_the_network(tmp_path):
    assert resolve_model_path("default") == str(packaged_base_model_dir())
    assert resolve_model_path("all-MiniLM-L6-v2") == str(packaged_base_model_dir())
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve_model_path(str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match="has no config.json"):
        resolve_model_path(str(tmp_path / "empty"))


@pytest.mark.slow
def test_the_packaged_base_model_embeds_and_a_tiny_training_run_lowers_the_loss():
    from modeling.ml.hives.train import TrainConfig, train

    encoder = Encoder.load("default", max_length=32)
    assert encoder.pooling == "mean" and encoder.dim == 384
    texts = ["We must help our neighbours after the flood.", "Rules keep everyone safe.", "I want to win the race."]
    vectors = encoder.encode(texts)
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)

    examples = synthetic_examples(texts_per_path=4, with_opposing=False)
    config = TrainConfig(stage1_steps=6, batch_size=8, n_positives=3, lr=5e-5, max_length=24, seed=1)
    before = _loss_on(encoder, examples, tau=config.tau)
    result = train(encoder, examples, config)
    assert result.steps == 6
    assert _loss_on(encoder, examples, tau=config.tau) < before


def _loss_on(encoder: Encoder, examples, *, tau: float) -> float:
    """The Stage 1 loss (at the training temperature) of every example at once, in eval mode (no dropout): a fixed
    yardstick."""
    from modeling.ml.hives.data import LabelArrays
    from modeling.ml.hives.losses import hierarchical_supcon_loss

    labels = LabelArrays.from_examples(examples)
    vectors = torch.as_tensor(encoder.encode([labels.texts[i] for i in labels.text_index]))
    return hierarchical_supcon_loss(
        vectors, torch.as_tensor(labels.level_ids), torch.as_tensor(labels.directions),
        torch.as_tensor(labels.text_index), tau=tau,
    ).total.item()
