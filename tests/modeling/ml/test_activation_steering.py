"""Activation steering on a tiny random Llama (hidden size 32, 2 layers): the direction separates high from low
texts, the hook moves hidden states along it with the level's sign, changes what the model writes, and is gone
afterwards."""

import numpy as np
import pytest
import torch

from modeling.ml.llm.backends import LocalTransformersBackend
from modeling.ml.llm.tiny import tiny_chat_model
from modeling.ml.steering.activation import (
    ALPHA_PER_LEVEL,
    SteeringVector,
    activation_steering,
    decoder_layers,
    default_layer,
    level_to_alpha,
    mean_hidden_states,
    steering_direction,
)

torch.set_num_threads(1)

HIGH = ["I visit my grandmother every week and cook for her.", "Helping my friends move is a joy to me.",
        "I stayed up all night caring for my sick brother."]
LOW = ["I let my roommate take the blame for my mistake.", "Why should I care if my neighbour is struggling?",
       "I ignored my friend's calls when she needed me."]
PROBE = ["What should I do this weekend?", "Tell me about your family."]


@pytest.fixture(scope="module")
def tiny():
    return tiny_chat_model(seed=3)


@pytest.fixture(scope="module")
def vector(tiny) -> SteeringVector:
    model, tokenizer = tiny
    return steering_direction(model, tokenizer, HIGH, LOW, layer=1)


def projections(tiny, vector) -> np.ndarray:
    model, tokenizer = tiny
    return mean_hidden_states(model, tokenizer, PROBE, layer=vector.layer) @ vector.direction


def test_the_direction_is_a_unit_vector_pointing_from_low_to_high_texts(tiny, vector):
    model, tokenizer = tiny
    assert vector.direction.shape == (32,) and vector.direction.dtype == np.float32
    assert np.linalg.norm(vector.direction) == pytest.approx(1.0, abs=1e-5)
    high = mean_hidden_states(model, tokenizer, HIGH, layer=1) @ vector.direction
    low = mean_hidden_states(model, tokenizer, LOW, layer=1) @ vector.direction
    assert high.mean() > low.mean()
    assert (vector.n_high, vector.n_low, vector.layer) == (3, 3, 1)
    assert SteeringVector.from_dict(vector.to_dict()).direction == pytest.approx(vector.direction)


def test_positive_levels_push_hidden_states_toward_the_value_and_negative_ones_away(tiny, vector):
    before = projections(tiny, vector)
    moved = {}
    for level in (-2, -1, 1, 2):
        with activation_steering(tiny[0], vector, level_to_alpha(level, alpha_per_level=0.25)):
            moved[level] = projections(tiny, vector)
    assert np.all(moved[-2] < moved[-1]) and np.all(moved[-1] < before)
    assert np.all(before < moved[1]) and np.all(moved[1] < moved[2])


def test_the_push_is_relative_to_the_hidden_state_norm(tiny, vector):
    model, tokenizer = tiny
    encoded = tokenizer(PROBE[:1], return_tensors="pt")
    layer = decoder_layers(model)[1]
    seen = []

    def capture(module, inputs, output):
        seen.append(output[0] if isinstance(output, tuple) else output)

    with torch.inference_mode():
        hook = layer.register_forward_hook(capture)
        model(**encoded)
        hook.remove()
        with activation_steering(model, vector, 0.1):
            hook = layer.register_forward_hook(capture)  # runs after the steering hook, so it sees the result
            model(**encoded)
            hook.remove()
    plain, steered = seen
    expected = plain + 0.1 * plain.norm(dim=-1, keepdim=True) * torch.as_tensor(vector.direction)
    assert torch.allclose(steered, expected, atol=1e-5)


def test_steering_changes_generations_and_the_hook_is_removed_afterwards(tiny, vector):
    model, tokenizer = tiny
    backend = LocalTransformersBackend.from_loaded(model, tokenizer, name="tiny")
    question = [[{"role": "user", "content": "Should I help my neighbour?"}]]
    plain = backend.chat(question, temperature=0.0, max_new_tokens=24)
    with activation_steering(model, vector, 0.8):
        steered = backend.chat(question, temperature=0.0, max_new_tokens=24)
    assert steered != plain
    assert all(not layer._forward_hooks for layer in decoder_layers(model))
    assert backend.chat(question, temperature=0.0, max_new_tokens=24) == plain


def test_the_hook_is_removed_when_generation_fails(tiny, vector):
    model, _ = tiny
    with pytest.raises(RuntimeError, match="generation failed"):
        with activation_steering(model, vector, 0.5):
            raise RuntimeError("generation failed")
    assert all(not layer._forward_hooks for layer in decoder_layers(model))


def test_levels_map_to_alpha_linearly_and_level_zero_attaches_nothing(tiny, vector):
    assert [level_to_alpha(level) for level in (-2, -1, 0, 1, 2)] == pytest.approx(
        [-2 * ALPHA_PER_LEVEL, -ALPHA_PER_LEVEL, 0.0, ALPHA_PER_LEVEL, 2 * ALPHA_PER_LEVEL]
    )
    with activation_steering(tiny[0], vector, level_to_alpha(0)):
        assert all(not layer._forward_hooks for layer in decoder_layers(tiny[0]))
    with pytest.raises(ValueError, match="steering level must be one of"):
        level_to_alpha(3)


def test_bad_layers_and_directions_are_refused(tiny, vector):
    model, tokenizer = tiny
    assert default_layer(model) == 1
    with pytest.raises(ValueError, match="layer 5 does not exist: LlamaForCausalLM has decoder layers 0 to 1"):
        steering_direction(model, tokenizer, HIGH, LOW, layer=5)
    with pytest.raises(ValueError, match="needs high- and low-intensity texts; got 3 high and 0 low"):
        steering_direction(model, tokenizer, HIGH, [], layer=0)
    wrong = SteeringVector(layer=0, direction=np.ones(8, dtype=np.float32), raw_norm=1, mean_hidden_norm=1,
                           n_high=1, n_low=1)
    with pytest.raises(ValueError, match="8 dimensions; the model's hidden size is 32"):
        with activation_steering(model, wrong, 0.1):
            pass
