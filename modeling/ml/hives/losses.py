"""HiVES losses (method.md §2).

Stage 1, `hierarchical_supcon_loss`: a supervised contrastive loss at each level l = 1..3 of the value path. For an
anchor row i, the positives at level l are the other rows whose path shares i's level-l prefix *and* i's direction;
every other row (except rows of the same text) is in the denominator. A text with several labels (Touché23 arguments
carry three on average) is compared through all of them: training passes the positives of the rows' *texts*
(LabelArrays.text_positives), so two texts that share any label at level l are positives there — otherwise a text
would be pushed away from texts that share one of its other labels. Logits are cosine / τ (τ = 0.1), and a pair
of opposite directions (supports vs opposes) has its logit lowered by a fixed penalty (1.0). A finer level's loss is
floored at the largest coarser-level loss, so the model cannot satisfy the fine levels while the coarse structure is
still wrong (compared net of each level's unavoidable part by default: see FLOORS). The levels are summed with
weights 2^(1/l) (2, 1.41, 1.26), which lean on the coarse levels.

An optional auxiliary term, `hierarchy_ranking_loss` (TrainConfig.rank_weight, off by default), asks directly for the
order the evaluation scores: a pair of texts that shares more path levels should have the higher cosine (CoSENT).

Stage 2, `stage2_loss`: the Stage 1 loss on the batch's hierarchical rows, plus λ = 0.5 × an InfoNCE term over
individual-anchor pairs and λ = 1.0 × an InfoNCE term over cross-theory concept pairs (τ = 0.07; each anchor's own
positive against the other pairs' positives). Each term receives the positions of its own rows; nothing is sliced
by position out of a shuffled batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

DEFAULT_TAU = 0.1
DEFAULT_OPPOSITE_PENALTY = 1.0
DEFAULT_ANCHOR_TAU = 0.07
DEFAULT_LAMBDA_INDIVIDUAL = 0.5
DEFAULT_LAMBDA_CONCEPT = 1.0
DEFAULT_RANK_SCALE = 20.0  # CoSENT's λ: cosine differences of ~0.05 already decide a pair's order
# How the finer-level floor compares levels. An anchor with |P| positives cannot get its SupCon loss below log |P|
# (all positives equally close, every negative infinitely far), and coarse levels have more positives than fine
# ones — with multi-label texts, most of a batch shares some level-1 value. Compared raw, the coarse level's
# unavoidable loss would sit above every finer level for good, and the floor would replace the finer levels'
# gradients by the coarse level's for the whole run. "excess" subtracts log |P_i| per anchor before comparing (and
# reports that excess, which is 0 for a perfect clustering); the gradients are those of the plain loss.
FLOORS = ("excess", "raw", "off")


def level_weights(levels: int) -> list[float]:
    """2^(1/l) for l = 1..levels."""
    return [2.0 ** (1.0 / level) for level in range(1, levels + 1)]


def positive_masks(level_ids: torch.Tensor, directions: torch.Tensor, text_ids: torch.Tensor) -> torch.Tensor:
    """[levels, n, n] boolean: j is a positive of anchor i at level l (same level-l prefix, same direction,
    a different text)."""
    other_text = text_ids[:, None] != text_ids[None, :]
    same_direction = directions[:, None] == directions[None, :]
    same_prefix = level_ids.T[:, :, None] == level_ids.T[:, None, :]
    return same_prefix & (same_direction & other_text)[None]


@dataclass
class HierarchicalLoss:
    total: torch.Tensor
    per_level: list[torch.Tensor | None]  # the raw loss of each level (None: no anchor had positives there)
    floored: list[torch.Tensor | None]  # after the floor at the largest coarser-level loss


def hierarchical_supcon_loss(
    embeddings: torch.Tensor,
    level_ids: torch.Tensor,
    directions: torch.Tensor,
    text_ids: torch.Tensor | None = None,
    *,
    tau: float = DEFAULT_TAU,
    opposite_penalty: float = DEFAULT_OPPOSITE_PENALTY,
    weights: list[float] | None = None,
    positives: torch.Tensor | None = None,
    floor: str = "excess",
) -> HierarchicalLoss:
    """Stage 1 loss of a batch of unit vectors [n, dim] with their level ids [n, levels] and directions [n].

    `positives` ([levels, n, n] boolean) replaces the positives read from `level_ids` — training passes the
    positives of the rows' texts with all their labels (LabelArrays.text_positives).

    `floor`: "excess" (default) compares the levels net of each anchor's unavoidable loss log |P_i| (see FLOORS),
    "raw" compares the plain level losses, "off" sums the levels without a floor.
    """
    if floor not in FLOORS:
        raise ValueError(f"floor must be one of {', '.join(FLOORS)}, got {floor!r}")
    n, levels = level_ids.shape
    if text_ids is None:
        text_ids = torch.arange(n, device=embeddings.device)
    weights = weights or level_weights(levels)
    logits = embeddings @ embeddings.T / tau
    opposite = (directions[:, None] * directions[None, :]) < 0
    logits = logits - opposite_penalty * opposite.to(logits.dtype)
    # The denominator runs over every other row except those of the same text (a text is not its own negative).
    comparable = text_ids[:, None] != text_ids[None, :]
    denominator = torch.logsumexp(logits.masked_fill(~comparable, float("-inf")), dim=1, keepdim=True)
    log_prob = logits - denominator
    if positives is None:
        positives = positive_masks(level_ids, directions, text_ids)
    else:
        positives = positives & comparable[None]

    per_level: list[torch.Tensor | None] = []
    for level in range(levels):
        mask = positives[level]
        n_pos = mask.sum(dim=1)
        has_positive = n_pos > 0
        if not bool(has_positive.any()):
            per_level.append(None)
            continue
        summed = torch.where(mask, log_prob, torch.zeros_like(log_prob)).sum(dim=1)
        anchor_loss = -summed[has_positive] / n_pos[has_positive]
        if floor == "excess":
            anchor_loss = anchor_loss - torch.log(n_pos[has_positive].to(anchor_loss.dtype))
        per_level.append(anchor_loss.mean())

    floored: list[torch.Tensor | None] = []
    ceiling: torch.Tensor | None = None  # the largest loss of the coarser levels so far
    total = embeddings.new_zeros(())
    for level, loss in enumerate(per_level):
        if loss is None:
            floored.append(None)
            continue
        value = loss if ceiling is None or floor == "off" else torch.maximum(loss, ceiling)
        floored.append(value)
        ceiling = value if ceiling is None else torch.maximum(ceiling, value)
        total = total + weights[level] * value
    return HierarchicalLoss(total=total, per_level=per_level, floored=floored)


def hierarchy_ranking_loss(
    embeddings: torch.Tensor,
    similarity: torch.Tensor,
    text_ids: torch.Tensor | None = None,
    *,
    scale: float = DEFAULT_RANK_SCALE,
) -> torch.Tensor:
    """The graded pair-ranking term (CoSENT): every pair of rows (i, j) whose texts are more closely related than
    those of another pair (k, l) should have the higher cosine,

        log(1 + Σ_{similarity(i, j) > similarity(k, l)} exp(scale · (cos(k, l) − cos(i, j)))),

    over the batch's pairs of different texts. `similarity` [n, n] is the evaluation's relation of two texts
    (LabelArrays.text_similarity: shared levels + 0.5 · same direction). Zero (without a gradient) when no two
    pairs differ in similarity."""
    n = embeddings.shape[0]
    if text_ids is None:
        text_ids = torch.arange(n, device=embeddings.device)
    first, second = torch.triu_indices(n, n, offset=1, device=embeddings.device)
    distinct = text_ids[first] != text_ids[second]
    first, second = first[distinct], second[distinct]
    cosines = (embeddings[first] * embeddings[second]).sum(dim=-1)
    targets = similarity[first, second]
    closer = targets[:, None] > targets[None, :]  # [p, q]: pair p should have the higher cosine
    if not bool(closer.any()):
        return embeddings.new_zeros(())
    violations = scale * (cosines[None, :] - cosines[:, None])[closer]
    return torch.logsumexp(torch.cat([violations.new_zeros(1), violations]), dim=0)


def info_nce_loss(anchors: torch.Tensor, positives: torch.Tensor, *, tau: float = DEFAULT_ANCHOR_TAU) -> torch.Tensor:
    """Each anchor against every positive of the batch; its own positive (same row) is the target."""
    if anchors.shape != positives.shape:
        raise ValueError(
            f"anchors {tuple(anchors.shape)} and positives {tuple(positives.shape)} must pair up row by row"
        )
    logits = anchors @ positives.T / tau
    target = torch.arange(anchors.shape[0], device=anchors.device)
    return F.cross_entropy(logits, target)


@dataclass
class Stage2Loss:
    total: torch.Tensor
    hierarchical: torch.Tensor
    individual: torch.Tensor | None
    concept: torch.Tensor | None


def stage2_loss(
    embeddings: torch.Tensor,
    level_ids: torch.Tensor,
    directions: torch.Tensor,
    text_ids: torch.Tensor,
    *,
    hierarchical_rows: torch.Tensor,
    individual_anchors: torch.Tensor,
    individual_positives: torch.Tensor,
    concept_anchors: torch.Tensor,
    concept_positives: torch.Tensor,
    tau: float = DEFAULT_TAU,
    opposite_penalty: float = DEFAULT_OPPOSITE_PENALTY,
    anchor_tau: float = DEFAULT_ANCHOR_TAU,
    lambda_individual: float = DEFAULT_LAMBDA_INDIVIDUAL,
    lambda_concept: float = DEFAULT_LAMBDA_CONCEPT,
    hierarchical_positives: torch.Tensor | None = None,
    floor: str = "excess",
) -> Stage2Loss:
    """L = L_hier(hierarchical rows) + λ_ind · InfoNCE(individual pairs) + λ_concept · InfoNCE(concept pairs).

    `embeddings`, `level_ids`, `directions`, `text_ids` describe every row of the batch; the five position tensors
    say which rows each term uses. A term without pairs (< 2 pairs: InfoNCE needs a negative) is left out.
    `hierarchical_positives` are the positives of the hierarchical rows (in their order), as in Stage 1.
    """
    hierarchical = hierarchical_supcon_loss(
        embeddings[hierarchical_rows],
        level_ids[hierarchical_rows],
        directions[hierarchical_rows],
        text_ids[hierarchical_rows],
        tau=tau,
        opposite_penalty=opposite_penalty,
        positives=hierarchical_positives,
        floor=floor,
    ).total
    total = hierarchical
    individual = concept = None
    if individual_anchors.numel() >= 2:
        individual = info_nce_loss(embeddings[individual_anchors], embeddings[individual_positives], tau=anchor_tau)
        total = total + lambda_individual * individual
    if concept_anchors.numel() >= 2:
        concept = info_nce_loss(embeddings[concept_anchors], embeddings[concept_positives], tau=anchor_tau)
        total = total + lambda_concept * concept
    return Stage2Loss(total=total, hierarchical=hierarchical, individual=individual, concept=concept)
