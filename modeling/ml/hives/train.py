"""The HiVES training loop: Stage 1 (hierarchical supervised contrastive) and, when asked for, Stage 2 (+ the
individual-anchor and concept terms), with linear warm-up and decay, gradient clipping, checkpoints every N steps
and resumption from the last checkpoint.

A checkpoint (`checkpoint.pt` in the checkpoint folder, replaced atomically) holds the model and optimiser state,
the learning-rate schedule, the samplers' and torch's random state, the loss curve and the elapsed time, so a run
that resumes continues exactly where the checkpoint left it — step, data order and all.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .data import HivesExample, LabelArrays
from .encoder import Encoder
from .frozen import FrozenPrefix
from .losses import FLOORS, hierarchical_supcon_loss, hierarchy_ranking_loss, stage2_loss
from .sampler import HierarchicalBatchSampler, Stage2BatchSampler

CHECKPOINT_NAME = "checkpoint.pt"
# Settings that may differ between a run and its resumption without changing what is computed.
_RESUMABLE_CHANGES = {"checkpoint_every"}


@dataclass
class TrainConfig:
    """Every HiVES training setting; the defaults are the paper's (method.md §2) where it gives one, except four
    chosen for a CPU and the small default encoder (docs/benchmarks.md, "HiVES"): only the top 2 layers train, from
    the cached output of the frozen ones, at lr 5e-4 for 6 epochs and τ 0.3 — on Touché23 this learns more within
    the 15-minute CPU budget than every layer at the paper's 1e-4 for fewer epochs, and τ 0.3 more than 0.1 or 0.5."""

    # Passes over the distinct training texts (each batch sees batch_size texts); sets the Stage 1 step count unless
    # stage1_steps is given.
    stage1_epochs: float = 6.0
    stage1_steps: int = 0
    stage2_steps: int = 0  # 0: Stage 1 only
    batch_size: int = 32
    n_positives: int = 4
    lr: float = 5e-4  # the paper's 1e-4 is for every layer of a 0.6B model; two small top layers take more
    stage2_lr: float = 1e-5
    warmup_fraction: float = 0.1
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    tau: float = 0.3  # the paper's 0.1 is for a 0.6B model; the small default encoder learns more at 0.3
    opposite_penalty: float = 1.0
    anchor_tau: float = 0.07
    lambda_individual: float = 0.5
    lambda_concept: float = 1.0
    # Fill each batch, after the anchor and its positives, with equal shares of texts from each relation to the
    # anchor's text (same path, same levels 1–2, same level 1, other branch; sampler.HierarchicalBatchSampler)
    # instead of at random. On Touché23 it learned fastest but ended behind (docs/benchmarks.md, "HiVES").
    stratified_negatives: bool = False
    stage2_hierarchical_rows: int = 32
    stage2_individual_pairs: int = 8
    stage2_concept_pairs: int = 8
    max_length: int = 256
    # The word-embedding matrix is most of a small encoder's parameters and moves little on a few thousand texts;
    # freezing it halves the optimiser's work.
    freeze_embeddings: bool = True
    # Train only the top N transformer layers (0: all): on a CPU the backward pass through the lower layers is
    # most of a step's cost, and the top layers carry most of what fine-tuning changes.
    train_layers: int = 2
    # With train_layers, run the frozen lower blocks once per training text and train from their cached output
    # (frozen.FrozenPrefix; BERT-style encoders): the same steps at a fraction of the cost.
    cache_frozen: bool = True
    # The finer-level floor of the Stage 1 loss (method.md §2): "excess", "raw" or "off" (see losses.FLOORS).
    level_floor: str = "excess"
    # Weight of the graded pair-ranking term added to the Stage 1 loss (losses.hierarchy_ranking_loss; 0: off, the
    # paper's loss), and its scale λ. On Touché23 every weight tried (0.05–0.3) ended behind 0 (docs/benchmarks.md).
    rank_weight: float = 0.0
    rank_scale: float = 20.0
    checkpoint_every: int = 50
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"unknown HiVES hyperparameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        converted: dict[str, Any] = {}
        for name, raw in values.items():
            kind = type(getattr(cls(), name))
            try:
                converted[name] = kind(raw) if kind is not bool else _as_bool(raw)
            except (TypeError, ValueError):
                raise ValueError(f"HiVES hyperparameter {name} must be a {kind.__name__}, got {raw!r}") from None
        config = cls(**converted)
        config.validate()
        return config

    def validate(self) -> None:
        problems = []
        if self.stage1_steps < 0 or self.stage2_steps < 0 or self.stage1_epochs < 0:
            problems.append("step and epoch counts cannot be negative")
        if self.batch_size < 2:
            problems.append(f"batch_size must be at least 2 (got {self.batch_size})")
        if not 0 <= self.n_positives < self.batch_size:
            problems.append(f"n_positives must be between 0 and batch_size - 1 (got {self.n_positives})")
        if self.lr <= 0 or self.stage2_lr <= 0:
            problems.append("learning rates must be positive")
        if not 0 <= self.warmup_fraction < 1:
            problems.append(f"warmup_fraction must be in [0, 1) (got {self.warmup_fraction})")
        if self.tau <= 0 or self.anchor_tau <= 0:
            problems.append("temperatures must be positive")
        if self.checkpoint_every < 1:
            problems.append(f"checkpoint_every must be at least 1 (got {self.checkpoint_every})")
        if self.train_layers < 0:
            problems.append(f"train_layers cannot be negative (got {self.train_layers})")
        if self.level_floor not in FLOORS:
            problems.append(f"level_floor must be one of {', '.join(FLOORS)} (got {self.level_floor!r})")
        if self.rank_weight < 0 or self.rank_scale <= 0:
            problems.append("rank_weight cannot be negative and rank_scale must be positive")
        if self.max_length < 8:
            problems.append(f"max_length must be at least 8 tokens (got {self.max_length})")
        if problems:
            raise ValueError("invalid HiVES hyperparameters: " + "; ".join(problems))

    def steps(self, n_texts: int) -> tuple[int, int]:
        """(Stage 1 steps, Stage 2 steps) for a training set of `n_texts` distinct texts."""
        stage1 = self.stage1_steps or max(1, math.ceil(self.stage1_epochs * n_texts / self.batch_size))
        return stage1, self.stage2_steps


def _as_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if str(raw).strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(raw)


@dataclass
class TrainResult:
    steps: int
    stage1_steps: int
    stage2_steps: int
    loss_curve: list[tuple[int, float]] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from: int | None = None  # the checkpoint step this run continued from


StepCallback = Callable[[int, int, float], None]  # (steps done, total steps, loss of this step)


def _schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def _optimiser(encoder: Encoder, config: TrainConfig, *, stage: int, steps: int):  # type: ignore[no-untyped-def]
    parameters = [p for p in encoder.model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        parameters, lr=config.lr if stage == 1 else config.stage2_lr, weight_decay=config.weight_decay
    )
    warmup = int(round(config.warmup_fraction * steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimiser, _schedule(warmup, steps))
    return optimiser, scheduler


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    torch.save(state, partial)
    os.replace(partial, path)  # a crash mid-write leaves the previous checkpoint intact


def load_checkpoint(checkpoint_dir: Path | str) -> dict[str, Any] | None:
    path = Path(checkpoint_dir) / CHECKPOINT_NAME
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def train(
    encoder: Encoder,
    examples: Sequence[HivesExample],
    config: TrainConfig,
    *,
    checkpoint_dir: Path | str | None = None,
    on_step: StepCallback | None = None,
    on_checkpoint: Callable[[int], None] | None = None,
) -> TrainResult:
    """Fine-tune `encoder` in place on `examples`; resumes from `checkpoint_dir` when it holds a checkpoint."""
    config.validate()
    if not examples:
        raise ValueError("HiVES training needs at least one example")
    labels = LabelArrays.from_examples(examples)
    stage1_steps, stage2_steps = config.steps(len(labels.texts))
    total = stage1_steps + stage2_steps
    encoder.max_length = config.max_length
    torch.manual_seed(config.seed)
    if config.freeze_embeddings:
        encoder.model.get_input_embeddings().weight.requires_grad_(False)
    if config.train_layers:
        freeze_lower_layers(encoder.model, config.train_layers)

    stage1 = HierarchicalBatchSampler(
        labels,
        batch_size=config.batch_size,
        n_positives=config.n_positives,
        seed=config.seed,
        stratified=config.stratified_negatives,
    )
    stage2 = (
        Stage2BatchSampler(
            labels,
            hierarchical_rows=config.stage2_hierarchical_rows,
            individual_pairs=config.stage2_individual_pairs,
            concept_pairs=config.stage2_concept_pairs,
            n_positives=config.n_positives,
            seed=config.seed + 7919,
            stratified=config.stratified_negatives,
        )
        if stage2_steps
        else None
    )
    tensors = {
        "level_ids": torch.as_tensor(labels.level_ids),
        "directions": torch.as_tensor(labels.directions),
        "text_ids": torch.as_tensor(labels.text_index),
    }

    step, seconds, loss_curve, resumed_from = 0, 0.0, [], None
    stage = 1 if stage1_steps else 2
    optimiser, scheduler = _optimiser(encoder, config, stage=stage, steps=stage1_steps or stage2_steps)
    checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
    saved = load_checkpoint(checkpoint_dir) if checkpoint_dir else None
    if saved is not None:
        _check_resumable(saved["config"], asdict(config), checkpoint_path)
        encoder.model.load_state_dict(saved["model"])
        step, seconds, loss_curve = saved["step"], saved["seconds"], [tuple(p) for p in saved["loss_curve"]]
        stage = saved["stage"]
        if stage == 2:
            optimiser, scheduler = _optimiser(encoder, config, stage=2, steps=stage2_steps)
        optimiser.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        stage1.set_state(saved["stage1_sampler"])
        if stage2 is not None and saved.get("stage2_sampler"):
            stage2.set_state(saved["stage2_sampler"])
        torch.set_rng_state(saved["torch_rng"])
        resumed_from = step

    started = time.monotonic() - seconds
    prefix = FrozenPrefix.build(encoder, labels.texts) if config.train_layers and config.cache_frozen else None

    def embed(rows: np.ndarray) -> torch.Tensor:
        if prefix is not None:
            return prefix.embed(labels.text_index[rows])
        return encoder.embed([labels.texts[i] for i in labels.text_index[rows]])

    encoder.model.train()
    while step < total:
        if step == stage1_steps and stage == 1:
            stage = 2
            optimiser, scheduler = _optimiser(encoder, config, stage=2, steps=stage2_steps)
        if stage == 1:
            sampled = stage1.sample()
            rows = torch.as_tensor(sampled)
            embeddings = embed(sampled)
            loss = hierarchical_supcon_loss(
                embeddings,
                tensors["level_ids"][rows],
                tensors["directions"][rows],
                tensors["text_ids"][rows],
                tau=config.tau,
                opposite_penalty=config.opposite_penalty,
                positives=torch.as_tensor(labels.text_positives(sampled)),
                floor=config.level_floor,
            ).total
            if config.rank_weight:
                loss = loss + config.rank_weight * hierarchy_ranking_loss(
                    embeddings,
                    torch.as_tensor(labels.text_similarity(sampled)),
                    tensors["text_ids"][rows],
                    scale=config.rank_scale,
                )
        else:
            assert stage2 is not None
            batch = stage2.sample()
            rows = torch.as_tensor(batch.rows)
            embeddings = embed(batch.rows)
            loss = stage2_loss(
                embeddings,
                tensors["level_ids"][rows],
                tensors["directions"][rows],
                tensors["text_ids"][rows],
                hierarchical_rows=torch.as_tensor(batch.hierarchical),
                individual_anchors=torch.as_tensor(batch.individual_anchors),
                individual_positives=torch.as_tensor(batch.individual_positives),
                concept_anchors=torch.as_tensor(batch.concept_anchors),
                concept_positives=torch.as_tensor(batch.concept_positives),
                tau=config.tau,
                opposite_penalty=config.opposite_penalty,
                anchor_tau=config.anchor_tau,
                lambda_individual=config.lambda_individual,
                lambda_concept=config.lambda_concept,
                hierarchical_positives=torch.as_tensor(labels.text_positives(batch.rows[batch.hierarchical])),
                floor=config.level_floor,
            ).total
        optimiser.zero_grad(set_to_none=True)
        if loss.requires_grad:  # a batch without any positive pair has nothing to learn from
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for p in encoder.model.parameters() if p.requires_grad], config.grad_clip
            )
            optimiser.step()
        scheduler.step()
        step += 1
        loss_value = float(loss.detach())
        loss_curve.append((step, loss_value))
        if checkpoint_path is not None and (step % config.checkpoint_every == 0 and step < total):
            _save_checkpoint(
                checkpoint_path,
                {
                    "step": step,
                    "stage": stage,
                    "config": asdict(config),
                    "model": encoder.model.state_dict(),
                    "optimizer": optimiser.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "stage1_sampler": stage1.state(),
                    "stage2_sampler": stage2.state() if stage2 is not None else None,
                    "torch_rng": torch.get_rng_state(),
                    "loss_curve": loss_curve,
                    "seconds": time.monotonic() - started,
                },
            )
            if on_checkpoint is not None:
                on_checkpoint(step)
        if on_step is not None:
            on_step(step, total, loss_value)
    encoder.model.eval()
    return TrainResult(
        steps=step,
        stage1_steps=stage1_steps,
        stage2_steps=stage2_steps,
        loss_curve=loss_curve,
        seconds=time.monotonic() - started,
        resumed_from=resumed_from,
    )


def transformer_layers(model: Any) -> Any:
    """The stack of transformer blocks of a BERT-style (encoder.layer) or decoder-style (layers, transformer.h)
    model, or None."""
    for path in ("encoder.layer", "layers", "transformer.h", "model.layers"):
        module = model
        for name in path.split("."):
            module = getattr(module, name, None)
            if module is None:
                break
        if isinstance(module, torch.nn.ModuleList):
            return module
    return None


def freeze_lower_layers(model: Any, train_layers: int) -> None:
    """Leave only the top `train_layers` blocks (and what follows them, e.g. a final norm) trainable."""
    layers = transformer_layers(model)
    if layers is None:
        raise ValueError(f"cannot find the transformer layers of {type(model).__name__} to train only the top ones")
    if train_layers >= len(layers):
        return
    # Everything before the first trained block (embeddings, lower blocks) is frozen; the rest stays as it was.
    first_trained = layers[len(layers) - train_layers]
    frozen = True
    for module in model.modules():
        if module is first_trained:
            frozen = False
        if frozen and module is not model:
            for parameter in module.parameters(recurse=False):
                parameter.requires_grad_(False)
    for layer in layers[: len(layers) - train_layers]:
        layer.requires_grad_(False)


def _check_resumable(saved: dict[str, Any], current: dict[str, Any], path: Path | None) -> None:
    # A checkpoint written before a setting existed lacks its key; it was trained with that setting's default.
    saved = {**asdict(TrainConfig()), **saved}
    changed = sorted(key for key in set(saved) | set(current) if saved.get(key) != current.get(key))
    changed = [key for key in changed if key not in _RESUMABLE_CHANGES]
    if changed:
        details = ", ".join(f"{key}: {saved.get(key)!r} → {current.get(key)!r}" for key in changed)
        raise ValueError(f"cannot resume from {path}: it was written with other hyperparameters ({details})")


def mean_loss(curve: Sequence[tuple[int, float]], *, last: int | None = None) -> float:
    values = np.asarray([loss for _, loss in curve][-last:] if last else [loss for _, loss in curve])
    return float(values.mean()) if values.size else float("nan")
