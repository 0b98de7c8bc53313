"""HiVES batches: anchor + positives (same path and direction) + same-theory negatives, no text twice, Stage 2 pairs
on their own rows, and deterministic, resumable sampling."""

import numpy as np

from modeling.ml.hives.data import SUPPORTS, HivesExample, LabelArrays, pad_path
from modeling.ml.hives.sampler import HierarchicalBatchSampler, Stage2BatchSampler
from tests.modeling.hives_helpers import synthetic_examples


def test_a_batch_is_anchor_positives_then_same_theory_negatives():
    examples = synthetic_examples(texts_per_path=10, with_opposing=False)
    labels = LabelArrays.from_examples(examples)
    sampler = HierarchicalBatchSampler(labels, batch_size=16, n_positives=4, seed=1)
    for _ in range(20):
        batch = sampler.sample()
        anchor = batch[0]
        assert len(batch) == 16
        same_group = (labels.level_ids[batch, -1] == labels.level_ids[anchor, -1]) & (
            labels.directions[batch] == labels.directions[anchor]
        )
        assert same_group[1:5].all(), "the four rows after the anchor share its path and direction"
        assert (labels.theory_ids[batch] == labels.theory_ids[anchor]).all()
        assert len(set(labels.text_index[batch].tolist())) == len(batch), "no text twice in a batch"


def test_stratified_batches_take_equal_shares_of_every_relation_to_the_anchor():
    labels = LabelArrays.from_examples(synthetic_examples(texts_per_path=12, with_opposing=False))
    stratified = HierarchicalBatchSampler(labels, batch_size=16, n_positives=2, seed=4, stratified=True)
    plain = HierarchicalBatchSampler(labels, batch_size=16, n_positives=2, seed=4)
    shares, plain_shares = [], []
    for _ in range(30):
        for sampler, counts in ((stratified, shares), (plain, plain_shares)):
            batch = sampler.sample()
            assert len(batch) == 16 and len(set(labels.text_index[batch].tolist())) == 16
            relation = labels.text_similarity(batch[:1], batch[3:])[0]  # after the anchor and its 2 positives
            counts.append(np.unique(relation, return_counts=True)[1])
    # Same path, levels 1–2, level 1, other branch (or fewer kinds for anchors without them): shares within one.
    assert all(c.max() - c.min() <= 1 for c in shares)
    # At random, other branches (four of the six paths) crowd out the closer relations.
    assert sum(c.max() - c.min() for c in plain_shares) > 3 * len(plain_shares)


def test_negatives_stay_in_the_anchor_theory():
    examples = synthetic_examples(texts_per_path=6) + [
        HivesExample(text_id=f"mft-{i}", text=f"mft text {i}", theory="mft", path=pad_path(["mft:care-harm"]),
                     direction=SUPPORTS)
        for i in range(30)
    ]
    labels = LabelArrays.from_examples(examples)
    sampler = HierarchicalBatchSampler(labels, batch_size=12, seed=3)
    for _ in range(30):
        batch = sampler.sample()
        assert len(set(labels.theory_ids[batch].tolist())) == 1


def test_two_labels_of_one_text_never_share_a_batch():
    examples = synthetic_examples(texts_per_path=5, with_opposing=False)
    doubled = examples + [
        HivesExample(text_id=e.text_id, text=e.text, theory=e.theory, path=examples[-1].path, direction=e.direction)
        for e in examples[:10]
    ]
    labels = LabelArrays.from_examples(doubled)
    sampler = HierarchicalBatchSampler(labels, batch_size=20, seed=0)
    for _ in range(25):
        batch = sampler.sample()
        assert len(set(labels.text_index[batch].tolist())) == len(batch)


def test_sampling_is_deterministic_and_resumes_from_its_state():
    labels = LabelArrays.from_examples(synthetic_examples(texts_per_path=8))
    first = HierarchicalBatchSampler(labels, batch_size=8, seed=5)
    second = HierarchicalBatchSampler(labels, batch_size=8, seed=5)
    for _ in range(3):
        assert np.array_equal(first.sample(), second.sample())
    state = first.state()
    expected = [first.sample() for _ in range(4)]
    resumed = HierarchicalBatchSampler(labels, batch_size=8, seed=99)
    resumed.set_state(state)
    assert all(np.array_equal(a, resumed.sample()) for a in expected)


def test_every_example_is_an_anchor_once_per_pass():
    labels = LabelArrays.from_examples(synthetic_examples(texts_per_path=4))
    sampler = HierarchicalBatchSampler(labels, batch_size=6, seed=2)
    anchors = [int(sampler.sample()[0]) for _ in range(len(labels))]
    assert sorted(anchors) == list(range(len(labels)))


def _stage2_examples() -> list[HivesExample]:
    examples = []
    for i in range(40):
        theory = ["svt", "mft", "duties"][i % 3]
        examples.append(
            HivesExample(
                text_id=i,
                text=f"text {i}",
                theory=theory,
                path=pad_path([f"{theory}:v{i % 4}"]),
                direction=SUPPORTS,
                anchor=f"person-{i % 5}",
                concept=f"concept-{i % 4}",
            )
        )
    return examples


def test_stage2_batches_name_the_rows_of_each_term():
    labels = LabelArrays.from_examples(_stage2_examples())
    sampler = Stage2BatchSampler(labels, hierarchical_rows=12, individual_pairs=3, concept_pairs=3, seed=4)
    assert sampler.has_individual_pairs and sampler.has_concept_pairs
    for _ in range(10):
        batch = sampler.sample()
        rows = batch.rows
        assert len(set(rows.tolist())) == len(rows), "each example is embedded once"
        anchors, positives = rows[batch.individual_anchors], rows[batch.individual_positives]
        assert len(anchors) == 3
        assert (labels.anchor_ids[anchors] == labels.anchor_ids[positives]).all()
        assert (labels.text_index[anchors] != labels.text_index[positives]).all()
        assert len(set(labels.anchor_ids[anchors].tolist())) == 3, "in-batch negatives are other anchors"
        c_anchors, c_positives = rows[batch.concept_anchors], rows[batch.concept_positives]
        assert (labels.concept_ids[c_anchors] == labels.concept_ids[c_positives]).all()
        assert (labels.theory_ids[c_anchors] != labels.theory_ids[c_positives]).all(), "concept pairs cross theories"
        assert len(batch.hierarchical) == 12


def test_concepts_within_one_theory_give_no_pairs():
    examples = [
        HivesExample(text_id=i, text=f"t{i}", theory="svt", path=pad_path(["svt:a"]), direction=SUPPORTS,
                     concept="only-svt")
        for i in range(10)
    ]
    sampler = Stage2BatchSampler(LabelArrays.from_examples(examples), hierarchical_rows=6, seed=0)
    assert not sampler.has_concept_pairs
    assert len(sampler.sample().concept_anchors) == 0
