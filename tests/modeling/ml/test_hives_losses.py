"""The HiVES losses: per-level positives (prefix and direction), the opposite-direction penalty, the finer-level floor,
gradients, and Stage 2 terms that see only their own rows."""

import math

import pytest
import torch
import torch.nn.functional as F

from modeling.ml.hives.losses import (
    hierarchical_supcon_loss,
    hierarchy_ranking_loss,
    info_nce_loss,
    level_weights,
    positive_masks,
    stage2_loss,
)

torch.set_num_threads(1)

# Rows: 0 and 1 share the whole path and direction; 2 shares levels 1–2 with 0; 3 shares level 1 only;
# 4 has row 0's path but the opposite direction; 5 is from another level-1 branch.
LEVEL_IDS = torch.tensor([[0, 10, 20], [0, 10, 20], [0, 10, 21], [0, 11, 22], [0, 10, 20], [1, 12, 23]])
DIRECTIONS = torch.tensor([1, 1, 1, 1, -1, 1])


def unit(n: int, dim: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, dim, generator=generator), dim=1)


def test_positives_share_the_level_prefix_and_the_direction():
    masks = positive_masks(LEVEL_IDS, DIRECTIONS, torch.arange(6))
    assert masks[0, 0].nonzero().flatten().tolist() == [1, 2, 3]  # level 1: all same-direction rows of branch 0
    assert masks[1, 0].nonzero().flatten().tolist() == [1, 2]  # level 2: prefix (0, 10)
    assert masks[2, 0].nonzero().flatten().tolist() == [1]  # level 3: the full path
    assert not masks[:, 0, 4].any(), "an opposite-direction row is never a positive, even on the same path"
    assert not masks[:, 0, 0].any(), "a row is not its own positive"


def test_two_labels_of_one_text_are_neither_positives_nor_negatives():
    text_ids = torch.tensor([0, 0, 1, 2, 3, 4])  # rows 0 and 1 are the same text
    masks = positive_masks(LEVEL_IDS, DIRECTIONS, text_ids)
    assert not masks[:, 0, 1].any() and not masks[:, 1, 0].any()
    # Rows 0 and 1 were each other's only full-path partner; as one text they leave level 3 without positives.
    assert hierarchical_supcon_loss(unit(6), LEVEL_IDS, DIRECTIONS, text_ids).per_level[2] is None

    # Three rows on one path, rows 0 and 1 the same text: each of them sees only row 2 (loss 0); row 2 sees both.
    embeddings = unit(3, seed=7)
    same_path = torch.zeros(3, 3, dtype=torch.long)
    loss = hierarchical_supcon_loss(
        embeddings, same_path, torch.ones(3, dtype=torch.long), torch.tensor([0, 0, 1]), floor="raw"
    )
    s20, s21 = (embeddings[2] @ embeddings[0]) / 0.1, (embeddings[2] @ embeddings[1]) / 0.1
    row_2 = torch.logsumexp(torch.stack([s20, s21]), dim=0) - (s20 + s21) / 2
    assert loss.per_level[0].item() == pytest.approx(row_2.item() / 3, rel=1e-5)


def test_clustered_embeddings_score_lower_than_scrambled_ones():
    # Embeddings that follow the hierarchy: full-path neighbours closest, other branch farthest.
    base = torch.tensor([1.0, 0, 0, 0])
    structured = F.normalize(
        torch.stack(
            [
                base + torch.tensor([0, 0.1, 0, 0]),
                base + torch.tensor([0, 0.12, 0, 0]),
                base + torch.tensor([0, 0.6, 0, 0]),
                base + torch.tensor([0, 0, 1.2, 0]),
                -base + torch.tensor([0, 0, 0, 0.3]),
                torch.tensor([0, 0, 0, 1.0]),
            ]
        ),
        dim=1,
    )
    scrambled = structured[torch.tensor([5, 3, 4, 0, 1, 2])]
    good = hierarchical_supcon_loss(structured, LEVEL_IDS, DIRECTIONS).total
    bad = hierarchical_supcon_loss(scrambled, LEVEL_IDS, DIRECTIONS).total
    assert good < bad


def test_gradients_reach_every_row():
    embeddings = unit(6).requires_grad_()
    hierarchical_supcon_loss(embeddings, LEVEL_IDS, DIRECTIONS).total.backward()
    assert embeddings.grad is not None
    assert (embeddings.grad.abs().sum(dim=1) > 0).all()


def test_each_finer_level_is_floored_at_the_largest_coarser_loss():
    # All rows identical: every logit is equal, so the level losses differ only through their positive counts.
    embeddings = F.normalize(torch.ones(6, 4), dim=1)
    loss = hierarchical_supcon_loss(embeddings, LEVEL_IDS, DIRECTIONS, opposite_penalty=0.0)
    raw, floored = loss.per_level, loss.floored
    assert floored[0] == raw[0]
    for level in (1, 2):
        assert floored[level] >= max(floored[:level])
        assert floored[level] == max(raw[level], *raw[:level])
    weights = level_weights(3)
    assert weights == pytest.approx([2.0, 2 ** 0.5, 2 ** (1 / 3)])
    assert loss.total == pytest.approx(sum(w * f for w, f in zip(weights, floored, strict=True)).item())


@pytest.mark.parametrize("floor", ["raw", "excess"])
def test_the_floor_compares_raw_losses_or_their_excess_over_log_positives(floor):
    embeddings = unit(6, seed=11).requires_grad_()
    loss = hierarchical_supcon_loss(embeddings, LEVEL_IDS, DIRECTIONS, floor=floor)
    for level in (1, 2):
        assert loss.floored[level].item() == pytest.approx(max(v.item() for v in loss.per_level[: level + 1]))
    if floor == "excess":
        # Level 1: rows 0–3 each have 3 positives, row 5 none (rows 4's only same-direction partners are none).
        raw = hierarchical_supcon_loss(embeddings, LEVEL_IDS, DIRECTIONS, floor="raw")
        assert loss.per_level[0].item() == pytest.approx(raw.per_level[0].item() - torch.log(torch.tensor(3.0)).item())
        (excess_grad,) = torch.autograd.grad(loss.per_level[0], embeddings, retain_graph=True)
        (raw_grad,) = torch.autograd.grad(raw.per_level[0], embeddings)
        assert torch.allclose(excess_grad, raw_grad), "subtracting log |P| leaves the gradients alone"


def test_without_the_floor_the_levels_are_simply_weighted():
    loss = hierarchical_supcon_loss(unit(6, seed=12), LEVEL_IDS, DIRECTIONS, floor="off")
    assert [f.item() for f in loss.floored] == [v.item() for v in loss.per_level]
    with pytest.raises(ValueError, match="floor must be one of"):
        hierarchical_supcon_loss(unit(6), LEVEL_IDS, DIRECTIONS, floor="sometimes")


def test_a_floored_level_trains_the_coarser_level_it_copies():
    # Full-path partners (rows 0, 1) sit together while the level-1 positives (rows 2, 3) are far away: the fine
    # levels are easy, the coarse one is not, so levels 2 and 3 take level 1's loss — and its gradient.
    eye = torch.eye(6)
    embeddings = torch.stack([eye[0], F.normalize(eye[0] + 0.01 * eye[5], dim=0), eye[1], eye[2], -eye[0], eye[3]])
    embeddings.requires_grad_()
    loss = hierarchical_supcon_loss(embeddings, LEVEL_IDS, DIRECTIONS)
    assert loss.per_level[2] < loss.per_level[0]
    assert loss.floored[2].item() == pytest.approx(max(v.item() for v in loss.per_level))
    (floored_grad,) = torch.autograd.grad(loss.floored[2], embeddings, retain_graph=True)
    coarse = max(range(3), key=lambda level: loss.per_level[level].item())
    (coarse_grad,) = torch.autograd.grad(loss.per_level[coarse], embeddings, retain_graph=True)
    assert torch.allclose(floored_grad, coarse_grad)


def test_opposite_direction_pairs_have_their_logit_lowered():
    embeddings = unit(6, seed=1)
    without = hierarchical_supcon_loss(embeddings, LEVEL_IDS, DIRECTIONS, opposite_penalty=0.0)
    with_penalty = hierarchical_supcon_loss(embeddings, LEVEL_IDS, DIRECTIONS, opposite_penalty=1.0)
    # Row 4 is row 0–3's only opposite: lowering its logit shrinks their denominators, so each level's loss falls.
    assert with_penalty.per_level[0] < without.per_level[0]
    # Same directions everywhere: the penalty changes nothing.
    same = torch.ones(6, dtype=torch.long)
    assert hierarchical_supcon_loss(embeddings, LEVEL_IDS, same, opposite_penalty=1.0).total == pytest.approx(
        hierarchical_supcon_loss(embeddings, LEVEL_IDS, same, opposite_penalty=0.0).total.item()
    )


def test_supcon_matches_a_hand_computed_value_for_one_anchor():
    embeddings = unit(3, dim=4, seed=2)
    level_ids = torch.tensor([[0, 0, 0], [0, 0, 0], [1, 1, 1]])
    directions = torch.tensor([1, 1, 1])
    loss = hierarchical_supcon_loss(embeddings, level_ids, directions, tau=0.1)
    sims = embeddings @ embeddings.T / 0.1
    # Anchors 0 and 1 each have one positive (each other) and one negative (row 2); row 2 has no positive.
    expected = -0.5 * sum(
        (sims[i, j] - torch.logsumexp(sims[i, [j, 2]], dim=0)).item() for i, j in ((0, 1), (1, 0))
    )
    assert loss.per_level[0].item() == pytest.approx(expected, rel=1e-5)


# Row 0's relation to rows 1, 2, 3: same path (3.5), levels 1–2 (2.5), level 1 (1.5); rows 1–3 among themselves 1.5.
SIMILARITY = torch.tensor(
    [[0.0, 3.5, 2.5, 1.5], [3.5, 0.0, 1.5, 1.5], [2.5, 1.5, 0.0, 1.5], [1.5, 1.5, 1.5, 0.0]]
)


def test_the_ranking_term_pulls_closer_related_pairs_together_in_order():
    embeddings = unit(4, seed=3).requires_grad_()
    optimiser = torch.optim.SGD([embeddings], lr=0.05)
    for _ in range(200):
        optimiser.zero_grad()
        hierarchy_ranking_loss(F.normalize(embeddings, dim=1), SIMILARITY).backward()
        optimiser.step()
    vectors = F.normalize(embeddings.detach(), dim=1)
    cos = vectors @ vectors.T
    assert cos[0, 1] > cos[0, 2] > cos[0, 3], "the pair sharing more levels ends up closer"
    assert cos[0, 2] > max(cos[1, 2], cos[1, 3], cos[2, 3])


def test_the_ranking_term_matches_cosent_by_hand_and_ignores_pairs_of_one_text():
    embeddings = unit(3, seed=6)
    similarity = torch.tensor([[0.0, 3.5, 0.5], [3.5, 0.0, 1.5], [0.5, 1.5, 0.0]])
    cos = embeddings @ embeddings.T
    # Pairs by similarity: (0, 1) 3.5 > (1, 2) 1.5 > (0, 2) 0.5.
    terms = [cos[1, 2] - cos[0, 1], cos[0, 2] - cos[0, 1], cos[0, 2] - cos[1, 2]]
    expected = torch.log1p(sum(torch.exp(20.0 * t) for t in terms))
    assert hierarchy_ranking_loss(embeddings, similarity).item() == pytest.approx(expected.item(), rel=1e-5)
    # Rows 0 and 1 one text: only (1, 2) and (0, 2) remain.
    one_text = hierarchy_ranking_loss(embeddings, similarity, torch.tensor([0, 0, 1]), scale=5.0)
    assert one_text.item() == pytest.approx(torch.log1p(torch.exp(5.0 * terms[2])).item(), rel=1e-5)


def test_the_ranking_term_is_zero_when_every_pair_is_related_alike():
    embeddings = unit(4, seed=8).requires_grad_()
    loss = hierarchy_ranking_loss(embeddings, torch.full((4, 4), 1.5))
    assert loss.item() == 0.0 and not loss.requires_grad


def test_info_nce_prefers_matching_pairs():
    anchors = unit(4, seed=4)
    assert info_nce_loss(anchors, anchors) < info_nce_loss(anchors, anchors.roll(1, dims=0))
    assert info_nce_loss(anchors, anchors).item() >= 0
    with pytest.raises(ValueError, match="pair up"):
        info_nce_loss(anchors, anchors[:3])


def _stage2_inputs():
    embeddings = unit(12, seed=5).requires_grad_()
    level_ids = torch.tensor([[i % 2, 10 + i % 3, 20 + i % 4] for i in range(12)])
    directions = torch.ones(12, dtype=torch.long)
    text_ids = torch.arange(12)
    rows = {
        "hierarchical_rows": torch.tensor([0, 1, 2, 3, 4, 5]),
        "individual_anchors": torch.tensor([6, 7]),
        "individual_positives": torch.tensor([8, 9]),
        "concept_anchors": torch.tensor([10, 1]),
        "concept_positives": torch.tensor([11, 2]),
    }
    return embeddings, level_ids, directions, text_ids, rows


def test_stage2_terms_see_only_their_own_rows():
    embeddings, level_ids, directions, text_ids, rows = _stage2_inputs()
    loss = stage2_loss(embeddings, level_ids, directions, text_ids, **rows)
    # Each term's gradient lands on its own rows only.
    for term, own in (
        ("hierarchical", {0, 1, 2, 3, 4, 5}),
        ("individual", {6, 7, 8, 9}),
        ("concept", {10, 11, 1, 2}),
    ):
        embeddings.grad = None
        getattr(loss, term).backward(retain_graph=True)
        touched = set((embeddings.grad.abs().sum(dim=1) > 0).nonzero().flatten().tolist())
        assert touched == own, term
    assert loss.total.item() == pytest.approx(loss.hierarchical.item() + 0.5 * loss.individual.item()
                                              + 1.0 * loss.concept.item(), rel=1e-5)


def test_stage2_rows_outside_a_term_do_not_change_it():
    embeddings, level_ids, directions, text_ids, rows = _stage2_inputs()
    before = stage2_loss(embeddings, level_ids, directions, text_ids, **rows)
    moved = embeddings.detach().clone()
    moved[[6, 7, 8, 9]] = unit(4, seed=9)  # only the individual-anchor rows change
    after = stage2_loss(moved, level_ids, directions, text_ids, **rows)
    assert after.hierarchical.item() == pytest.approx(before.hierarchical.item())
    assert after.concept.item() == pytest.approx(before.concept.item())
    assert not math.isclose(after.individual.item(), before.individual.item())


def test_stage2_leaves_out_a_term_without_pairs():
    embeddings, level_ids, directions, text_ids, rows = _stage2_inputs()
    rows["individual_anchors"] = rows["individual_positives"] = torch.tensor([], dtype=torch.long)
    loss = stage2_loss(embeddings, level_ids, directions, text_ids, **rows)
    assert loss.individual is None
    assert loss.total.item() == pytest.approx(loss.hierarchical.item() + loss.concept.item(), rel=1e-5)
