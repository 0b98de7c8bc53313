"""The HiVES encoder: a transformers model plus pooling into one L2-normalised vector per text.

Mean pooling over the attention mask suits BERT-style sentence embedders (the default all-MiniLM-L6-v2);
last-token pooling suits decoder-style embedders such as Qwen3-Embedding, whose final token summarises the text.
`Encoder.embed` keeps the autograd graph (training); `Encoder.encode` is batched inference to a float32 matrix.
Models are only ever read from local folders or the local cache (`local_files_only`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AutoModel, AutoTokenizer

from .paths import resolve_model_path

POOLINGS = ("mean", "last_token")
# Model families that are decoders: their embedders read the last token, not the mean.
_DECODER_MODEL_TYPES = {"qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2", "gemma3", "phi3"}


def default_pooling(config: Any) -> str:
    model_type = getattr(config, "model_type", "")
    architectures = getattr(config, "architectures", None) or []
    if model_type in _DECODER_MODEL_TYPES or any(name.endswith("ForCausalLM") for name in architectures):
        return "last_token"
    return "mean"


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str, *, normalise: bool = True) -> torch.Tensor:
    """[batch, tokens, dim] hidden states → [batch, dim] text vectors, L2-normalised unless `normalise` is False."""
    mask = attention_mask.to(hidden.dtype)
    if pooling == "mean":
        summed = (hidden * mask.unsqueeze(-1)).sum(dim=1)
        pooled = summed / mask.sum(dim=1, keepdim=True).clamp(min=1.0)
    elif pooling == "last_token":
        # Index of the last attended token, whether the tokenizer pads on the left or on the right.
        last = attention_mask.shape[1] - 1 - attention_mask.flip(dims=[1]).argmax(dim=1)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    else:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    return F.normalize(pooled, p=2, dim=-1) if normalise else pooled


class Encoder:
    """A text encoder with its tokenizer, pooling and maximum length (longer texts are truncated)."""

    def __init__(
        self, model: Any, tokenizer: Any, *, pooling: str = "mean", max_length: int = 256, device: str = "cpu"
    ) -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if max_length < 8:
            raise ValueError(f"max_length must be at least 8 tokens, got {max_length}")
        self.model = model.to(device)
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = max_length
        self.device = device

    @classmethod
    def load(
        cls, name_or_path: str, *, pooling: str | None = None, max_length: int = 256, device: str = "cpu"
    ) -> Encoder:
        """Load an encoder from a folder, the packaged base model ("" or "default") or the local cache."""
        location = resolve_model_path(name_or_path)
        tokenizer = AutoTokenizer.from_pretrained(location, local_files_only=True)
        model = AutoModel.from_pretrained(location, local_files_only=True)
        if tokenizer.pad_token is None:  # decoder tokenizers often have none; padding is masked out anyway
            tokenizer.pad_token = tokenizer.eos_token
        return cls(model, tokenizer, pooling=pooling or default_pooling(model.config), max_length=max_length,
                   device=device)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    def _tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        batch = self.tokenizer(
            list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
        )
        return {key: tensor.to(self.device) for key, tensor in batch.items()}

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """Vectors of `texts` with gradients (the model's train/eval mode is the caller's choice)."""
        batch = self._tokenize(texts)
        hidden = self.model(**batch).last_hidden_state
        return self.finish(pool(hidden, batch["attention_mask"], self.pooling, normalise=False))

    def finish(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled vectors → the served unit vectors."""
        return F.normalize(pooled, p=2, dim=-1)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """[len(texts), dim] float32 unit vectors, in the order of `texts`.

        Texts are batched in order of length so that each batch pads little; `progress(done, total)` is called
        after each batch.
        """
        total = len(texts)
        out = np.empty((total, self.dim), dtype=np.float32)
        if total == 0:
            return out
        order = np.argsort([len(text) for text in texts], kind="stable")
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                for start in range(0, total, batch_size):
                    index = order[start : start + batch_size]
                    vectors = self.embed([texts[i] for i in index])
                    out[index] = vectors.float().cpu().numpy()
                    if progress is not None:
                        progress(min(start + batch_size, total), total)
        finally:
            self.model.train(was_training)
        return out

    def save(self, folder: Path | str) -> Path:
        """Write the model and tokenizer as a transformers folder that `Encoder.load` reads back."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        return folder
