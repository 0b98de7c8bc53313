"""Training only the top N blocks without re-running the frozen ones: the embeddings and the blocks below the first
trained block compute the same hidden states for a text at every step, so `FrozenPrefix` runs them once per
distinct training text and keeps what enters the first trained block (fp16, without padding). A training step then
pads a batch of those states and runs only the trained blocks and the pooling — on a CPU, where the frozen blocks'
forward pass is most of a step, this buys several times more epochs in the same time.

BERT-style encoders only (their blocks take the hidden states and an additive attention mask); decoder blocks need
rotary positions passed in, so those models train through the full forward pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .encoder import Encoder, pool

# Model families whose blocks are called as block(hidden_states, additive_mask).
_BLOCK_MODEL_TYPES = {"bert", "roberta", "xlm-roberta", "electra"}
# Rows per padded chunk of a training batch (see FrozenPrefix.embed).
CHUNK_ROWS = 8


def frozen_blocks_supported(model: Any) -> bool:
    return getattr(model.config, "model_type", "") in _BLOCK_MODEL_TYPES and _blocks(model) is not None


def _blocks(model: Any) -> torch.nn.ModuleList | None:
    blocks = getattr(getattr(model, "encoder", None), "layer", None)
    return blocks if isinstance(blocks, torch.nn.ModuleList) else None


class FrozenPrefix:
    """The hidden states entering the first trained block, per training text, and the blocks from there on."""

    def __init__(self, encoder: Encoder, states: list[torch.Tensor], first_trained: int) -> None:
        self.encoder = encoder
        self.states = states
        self.first_trained = first_trained

    @classmethod
    def build(cls, encoder: Encoder, texts: Sequence[str], *, batch_size: int = 64) -> FrozenPrefix | None:
        """Run the frozen part of `encoder` once over `texts`; None when nothing below the first trainable block
        can be cached (every block trains, the embeddings train, or the model family is not supported)."""
        model = encoder.model
        blocks = _blocks(model)
        if blocks is None or not frozen_blocks_supported(model):
            return None
        first = next((i for i, block in enumerate(blocks) if any(p.requires_grad for p in block.parameters())), None)
        if first is None or first == 0:
            return None
        below = [p for p in model.embeddings.parameters()] + [p for b in blocks[:first] for p in b.parameters()]
        if any(p.requires_grad for p in below):
            return None
        states: list[torch.Tensor] = [torch.empty(0)] * len(texts)
        order = np.argsort([len(text) for text in texts], kind="stable")
        was_training = model.training
        model.eval()  # no dropout in the cached part: its output is fixed
        try:
            with torch.inference_mode():
                for start in range(0, len(texts), batch_size):
                    index = order[start : start + batch_size]
                    batch = encoder._tokenize([texts[i] for i in index])
                    hidden = model(**batch, output_hidden_states=True).hidden_states[first]
                    lengths = batch["attention_mask"].sum(dim=1).tolist()
                    for row, text in enumerate(index):
                        states[text] = hidden[row, : lengths[row]].to(torch.float16).clone()
        finally:
            model.train(was_training)
        return cls(encoder, states, first)

    def embed(self, text_indices: Sequence[int] | np.ndarray) -> torch.Tensor:
        """Unit vectors of the cached texts, with gradients through the trained blocks (as `Encoder.embed`).

        The batch runs through the blocks in length-sorted chunks of `CHUNK_ROWS`, each padded only to its own
        longest text: a random batch padded to its longest text would spend most of its work on padding (Touché
        premises average 27 tokens, the longest of 32 random ones ~70). The rows come back in the asked order.
        """
        chosen = [self.states[int(i)] for i in text_indices]
        order = np.argsort([state.shape[0] for state in chosen], kind="stable")
        pooled: list[torch.Tensor] = []
        for start in range(0, len(chosen), CHUNK_ROWS):
            pooled.append(self._run_blocks([chosen[i] for i in order[start : start + CHUNK_ROWS]]))
        vectors = torch.cat(pooled)[torch.as_tensor(np.argsort(order, kind="stable"))]
        return self.encoder.finish(vectors)

    def _run_blocks(self, states: list[torch.Tensor]) -> torch.Tensor:
        """[len(states), dim] pooled (not yet normalised) outputs of the trained blocks over one padded chunk."""
        device = self.encoder.device
        width = max(state.shape[0] for state in states)
        hidden = torch.zeros(len(states), width, states[0].shape[1], device=device)
        mask = torch.zeros(len(states), width, dtype=torch.long, device=device)
        for row, state in enumerate(states):
            hidden[row, : state.shape[0]] = state.to(device=device, dtype=torch.float32)
            mask[row, : state.shape[0]] = 1
        additive = (1.0 - mask[:, None, None, :].to(hidden.dtype)) * torch.finfo(hidden.dtype).min
        blocks = _blocks(self.encoder.model)
        assert blocks is not None
        for block in blocks[self.first_trained :]:
            hidden = block(hidden, additive)
        return pool(hidden, mask, self.encoder.pooling, normalise=False)
