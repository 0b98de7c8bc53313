"""Training the top blocks from the cached output of the frozen ones: the cached path embeds a text exactly as the
full encoder does, batches come back in the asked order whatever their lengths, and nothing is cached when a lower
block or the embeddings still train."""

import numpy as np
import pytest
import torch

from modeling.ml.hives.encoder import Encoder
from modeling.ml.hives.frozen import FrozenPrefix
from modeling.ml.hives.train import TrainConfig, freeze_lower_layers, mean_loss, train
from tests.modeling.hives_helpers import synthetic_examples, tiny_model_dir

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-bert"))


def _texts() -> list[str]:
    short = ["care help", "rules keep us safe", "win"]
    long = ["we must always help our friends and family when the flood comes and the river rises over the town"]
    return (short + long) * 3  # 12 texts of very different lengths: several chunks, each padded on its own


def test_the_cached_path_embeds_like_the_full_encoder(tiny_model):
    encoder = Encoder.load(str(tiny_model), max_length=32)
    freeze_lower_layers(encoder.model, 1)
    texts = _texts()
    prefix = FrozenPrefix.build(encoder, texts)
    assert prefix is not None and prefix.first_trained == 1
    encoder.model.eval()
    order = np.array([5, 0, 11, 3, 7, 1, 2, 9, 4, 10, 6, 8])
    with torch.no_grad():
        cached = prefix.embed(order).numpy()
    assert np.allclose(cached, encoder.encode([texts[i] for i in order]), atol=1e-3)


def test_nothing_is_cached_while_the_lower_blocks_or_embeddings_train(tiny_model):
    encoder = Encoder.load(str(tiny_model), max_length=32)
    assert FrozenPrefix.build(encoder, _texts()) is None, "every block trains"
    freeze_lower_layers(encoder.model, 1)
    encoder.model.embeddings.LayerNorm.weight.requires_grad_(True)
    assert FrozenPrefix.build(encoder, _texts()) is None, "the embeddings' norm trains"


def test_training_from_the_cache_lowers_the_loss_and_only_the_top_block_moves(tiny_model):
    encoder = Encoder.load(str(tiny_model), max_length=32)
    before = {name: p.detach().clone() for name, p in encoder.model.named_parameters()}
    config = TrainConfig(stage1_steps=40, batch_size=12, n_positives=3, lr=3e-3, max_length=32, seed=3,
                         train_layers=1)
    result = train(encoder, synthetic_examples(texts_per_path=8), config)
    assert mean_loss(result.loss_curve[-8:]) < mean_loss(result.loss_curve[:8])
    changed = {name for name, p in encoder.model.named_parameters() if not torch.equal(p, before[name])}
    assert changed and all(name.startswith("encoder.layer.1.") for name in changed), sorted(changed)[:3]

