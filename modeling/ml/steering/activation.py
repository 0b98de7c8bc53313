"""Activation steering of local models (beyond the paper, which names it as future work): push the residual stream
along a value's direction while the model writes.

- **Direction.** Run the model over texts scored high for the value and over texts scored low; at the output of one
  decoder layer, mean-pool each text's hidden states over its tokens (padding excluded); the direction is
  mean(high) − mean(low), normalised to unit length. The high and low texts come from the value's VIDB scores.
- **Steering.** During generation a forward hook on that layer adds `alpha × ‖h‖ × direction` to every token's
  hidden state h. Scaling by ‖h‖ makes alpha a fraction of the stream's own size, so the same alpha means about the
  same push in a 135M model and in a 7B one, and at early and late positions alike.
- **Levels.** alpha = level × alpha_per_level, with ALPHA_PER_LEVEL = 0.04 by default: level +2 moves each hidden
  state by 8 % of its norm toward the value, −2 by 8 % away from it, level 0 leaves the model untouched. Stronger
  pushes steer harder but soon degrade fluency; the per-backend setting `activation_alpha_per_level` overrides it.
- **Layer.** By default the middle decoder layer (`num_layers // 2`), where steering work on Llama-family models
  finds concepts most linearly readable; `activation_layer` overrides it.

Layer indices count decoder layers from 0; "the output of layer i" is what the hook sees and what is steered.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

ALPHA_PER_LEVEL = 0.04
STEERING_LEVELS = (-2, -1, 0, 1, 2)
# Longest stretch of a text read when computing a direction, in tokens: VIDB texts are a sentence or two.
MAX_TEXT_TOKENS = 256


@dataclass(frozen=True)
class SteeringVector:
    """A unit direction in one layer's hidden-state space, with how it was made."""

    layer: int
    direction: np.ndarray  # float32, shape (hidden_size,), unit norm
    # Length of mean(high) − mean(low) before normalising, and the norm of an average hidden state at the layer:
    # their ratio says how separable the value is at this layer.
    raw_norm: float
    mean_hidden_norm: float
    n_high: int
    n_low: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "direction": self.direction.astype(float).tolist(),
            "raw_norm": self.raw_norm,
            "mean_hidden_norm": self.mean_hidden_norm,
            "n_high": self.n_high,
            "n_low": self.n_low,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SteeringVector:
        return cls(
            layer=int(data["layer"]),
            direction=np.asarray(data["direction"], dtype=np.float32),
            raw_norm=float(data["raw_norm"]),
            mean_hidden_norm=float(data["mean_hidden_norm"]),
            n_high=int(data["n_high"]),
            n_low=int(data["n_low"]),
        )


def level_to_alpha(level: int, *, alpha_per_level: float = ALPHA_PER_LEVEL) -> float:
    """The fraction of the hidden-state norm added along the direction at a steering level (−2..+2)."""
    if isinstance(level, bool) or level not in STEERING_LEVELS:
        raise ValueError(f"steering level must be one of -2, -1, 0, +1, +2, got {level!r}")
    return float(level) * float(alpha_per_level)


def decoder_layers(model: PreTrainedModel) -> Sequence[torch.nn.Module]:
    """The decoder blocks of a causal LM, wherever its architecture keeps them."""
    for path in ("model.layers", "transformer.h", "gpt_neox.layers", "model.decoder.layers", "transformer.blocks"):
        holder: Any = model
        for attribute in path.split("."):
            holder = getattr(holder, attribute, None)
            if holder is None:
                break
        if holder is not None:
            return holder  # type: ignore[no-any-return]
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__} for activation steering")


def default_layer(model: PreTrainedModel) -> int:
    return len(decoder_layers(model)) // 2


def check_layer(model: PreTrainedModel, layer: int) -> int:
    count = len(decoder_layers(model))
    if not 0 <= layer < count:
        raise ValueError(f"layer {layer} does not exist: {type(model).__name__} has decoder layers 0 to {count - 1}")
    return layer


def mean_hidden_states(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    *,
    layer: int,
    batch_size: int = 16,
) -> np.ndarray:
    """(len(texts), hidden_size): each text's hidden states at the output of `layer`, averaged over its tokens."""
    import torch

    check_layer(model, layer)
    if not texts:
        raise ValueError("no texts to read hidden states from")
    captured: list[torch.Tensor] = []

    def capture(module: Any, inputs: Any, output: Any) -> None:
        captured.append(_hidden(output))

    device = next(model.parameters()).device
    pooled: list[np.ndarray] = []
    handle = decoder_layers(model)[layer].register_forward_hook(capture)
    try:
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = list(texts[start : start + batch_size])
                encoded = tokenizer(
                    batch, return_tensors="pt", padding=True, truncation=True, max_length=MAX_TEXT_TOKENS
                ).to(device)
                captured.clear()
                model(**encoded)
                hidden = captured[0].float()
                mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                means = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
                pooled.append(means.cpu().numpy())
    finally:
        handle.remove()
    return np.concatenate(pooled).astype(np.float32)


def steering_direction(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    high_texts: Sequence[str],
    low_texts: Sequence[str],
    *,
    layer: int,
) -> SteeringVector:
    """The unit direction from low-intensity texts to high-intensity texts at `layer`."""
    if not high_texts or not low_texts:
        raise ValueError(
            f"a steering direction needs high- and low-intensity texts; got {len(high_texts)} high and "
            f"{len(low_texts)} low"
        )
    high = mean_hidden_states(model, tokenizer, high_texts, layer=layer)
    low = mean_hidden_states(model, tokenizer, low_texts, layer=layer)
    difference = high.mean(axis=0) - low.mean(axis=0)
    raw_norm = float(np.linalg.norm(difference))
    if not np.isfinite(raw_norm) or raw_norm == 0.0:
        raise ValueError(f"high and low texts give the same mean hidden state at layer {layer}; no direction")
    mean_hidden_norm = float(np.linalg.norm(np.concatenate([high, low]), axis=1).mean())
    return SteeringVector(
        layer=layer,
        direction=(difference / raw_norm).astype(np.float32),
        raw_norm=raw_norm,
        mean_hidden_norm=mean_hidden_norm,
        n_high=len(high_texts),
        n_low=len(low_texts),
    )


@contextmanager
def activation_steering(model: PreTrainedModel, vector: SteeringVector, alpha: float) -> Iterator[None]:
    """Within the block, the output h of `vector.layer` becomes h + alpha·‖h‖·direction for every token.

    The hook is removed on exit, also after an exception. alpha = 0 attaches nothing. Callers sharing a model
    between threads hold the backend's lock for the whole block.
    """
    import torch

    check_layer(model, vector.layer)
    if alpha == 0.0:
        yield
        return
    parameter = next(model.parameters())
    direction = torch.as_tensor(vector.direction, dtype=parameter.dtype, device=parameter.device)
    if direction.shape != (_hidden_size(model),):
        raise ValueError(
            f"the steering direction has {direction.numel()} dimensions; "
            f"the model's hidden size is {_hidden_size(model)}"
        )

    def steer(module: Any, inputs: Any, output: Any) -> Any:
        hidden = _hidden(output)
        steered = hidden + alpha * hidden.norm(dim=-1, keepdim=True) * direction
        if isinstance(output, tuple):
            return (steered, *output[1:])
        return steered

    handle = decoder_layers(model)[vector.layer].register_forward_hook(steer)
    try:
        yield
    finally:
        handle.remove()


def _hidden(output: Any) -> torch.Tensor:
    """Decoder layers return the hidden states alone or first in a tuple, depending on the architecture."""
    return output[0] if isinstance(output, tuple) else output


def _hidden_size(model: PreTrainedModel) -> int:
    config = model.config
    size = getattr(config, "hidden_size", None) or getattr(config, "n_embd", None) or getattr(config, "d_model", None)
    if size is None:
        raise ValueError(f"cannot tell the hidden size of {type(model).__name__}")
    return int(size)
