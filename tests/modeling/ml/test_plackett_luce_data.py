"""ComparisonData: judgments become the right choice stages, and malformed judgments are refused with clear errors."""

import numpy as np
import pytest

from modeling.ml.plackett_luce import ComparisonData


def _stages(data: ComparisonData) -> list[tuple[list[tuple[int, ...]], tuple[int, ...], int]]:
    """Readable stages: (offered terms as item tuples, chosen term, sign)."""
    def members(term: int) -> tuple[int, ...]:
        return tuple(int(i) for i in data.term_members[data.term_ptr[term] : data.term_ptr[term + 1]])

    return [
        (
            [members(t) for t in range(data.stage_ptr[s], data.stage_ptr[s + 1])],
            members(int(data.stage_chosen[s])),
            int(data.stage_sign[s]),
        )
        for s in range(data.n_stages)
    ]


def test_a_strict_pair_is_one_choice_between_two_items():
    data = ComparisonData.from_orderings(10, [((3,), (7,))])
    assert _stages(data) == [([(3,), (7,)], (3,), 1)]
    assert data.is_pairwise and not data.has_ties


def test_a_pair_from_a_protocol_with_a_tie_button_also_offers_the_tie():
    data = ComparisonData.from_orderings(10, [((3,), (7,)), ((3, 7),)], max_tie_size=2)
    assert _stages(data) == [([(3,), (7,), (3, 7)], (3,), 1), ([(3,), (7,), (3, 7)], (3, 7), 1)]
    assert data.has_ties and data.tie_sizes == (2,) and not data.is_pairwise
    assert data.observed_tie_counts == {2: 1.0}


def test_a_list_with_a_tie_is_a_sequence_of_choices_from_the_remaining_items():
    data = ComparisonData.from_orderings(5, [((1,), (4, 2), (0,))], max_tie_size=2)
    first, second = _stages(data)  # the lone last item is no choice, so no third stage
    assert first[1] == (1,)
    assert sorted(first[0]) == sorted([(1,), (4,), (2,), (0,), (1, 4), (1, 2), (1, 0), (4, 2), (4, 0), (2, 0)])
    assert second[1] == (4, 2)
    assert sorted(second[0]) == sorted([(4,), (2,), (0,), (4, 2), (4, 0), (2, 0)])


def test_items_shown_but_not_ranked_stay_in_every_choice_set():
    data = ComparisonData.from_orderings(6, [((5,), (1,))], shown=[[1, 2, 5]])
    assert _stages(data) == [([(5,), (1,), (2,)], (5,), 1), ([(1,), (2,)], (1,), 1)]


def test_best_worst_is_a_best_choice_then_a_worst_choice_among_the_rest():
    data = ComparisonData.from_best_worst(9, [(4, 2, [2, 4, 6, 8])])
    assert _stages(data) == [([(4,), (2,), (6,), (8,)], (4,), 1), ([(2,), (6,), (8,)], (2,), -1)]
    assert data.has_worst_choices


def test_vectorised_constructors_match_from_orderings():
    orderings = [((0,), (1,)), ((2,), (1,)), ((1, 3),)]
    reference = ComparisonData.from_orderings(4, orderings, max_tie_size=2)
    pairs = ComparisonData.from_pairs(4, [0, 2, 1], [1, 1, 3], tied=[False, False, True])
    assert sorted(map(repr, _stages(pairs))) == sorted(map(repr, _stages(reference)))
    rankings = ComparisonData.from_rankings(5, np.array([[4, 0, 2], [1, 3, 0]]))
    assert _stages(rankings) == _stages(ComparisonData.from_orderings(5, [((4,), (0,), (2,)), ((1,), (3,), (0,))]))


def test_concat_renumbers_judgments_and_grows_the_pool():
    first = ComparisonData.from_orderings(3, [((0,), (1,))])
    second = ComparisonData.from_orderings(5, [((4,), (2,), (0,))])
    merged = ComparisonData.concat(first, second)
    assert merged.n_items == 5 and merged.n_judgments == 2
    assert _stages(merged) == _stages(first) + _stages(second)
    assert merged.stage_judgment.tolist() == [0, 1, 1]
    assert merged.item_judgment_counts().tolist() == [2, 1, 1, 0, 1]


def test_weights_follow_their_judgments():
    data = ComparisonData.from_orderings(4, [((0,), (1,), (2,)), ((3,), (0,))], weights=[0.5, 2.0])
    assert data.stage_weight[np.argsort(data.stage_judgment, kind="stable")].tolist() == [0.5, 0.5, 2.0]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: ComparisonData.from_orderings(5, [((0,), (9,))]), "ordering 0: item 9 is outside 0..4"),
        (lambda: ComparisonData.from_orderings(5, [((0,), (1,)), ((2,), (2,))]), "ordering 1: item 2 appears twice"),
        (lambda: ComparisonData.from_orderings(5, [((0,),)]), "ordering 0: a judgment needs at least two items"),
        (  # groups of the wrong type, on purpose
            lambda: ComparisonData.from_orderings(5, [(0, 1)]),  # type: ignore[list-item]
            "ordering 0: each group must be a non-empty tuple",
        ),
        (lambda: ComparisonData.from_orderings(5, [((0, 1, 2),)], max_tie_size=2), "exceeds max_tie_size=2"),
        (lambda: ComparisonData.from_orderings(5, [((0,), (1,))], weights=[-1]), "ordering 0 has weight -1"),
        (lambda: ComparisonData.from_orderings(5, [((0,), (1,))], shown=[[1, 2]]), "item 0 is ranked but not among"),
        (lambda: ComparisonData.from_pairs(5, [0, 1], [1, 1]), "pair 1: item 1 is compared with itself"),
        (lambda: ComparisonData.from_pairs(5, [0], [1], tied=[True], ties_allowed=False), "pair 0 is a tie"),
        (lambda: ComparisonData.from_rankings(5, [[0, 1, 0]]), "ranking 0: item 0 appears twice"),
        (lambda: ComparisonData.from_best_worst(5, [(1, 1, [1, 2])]), "item 1 is both the best and the worst"),
        (lambda: ComparisonData.from_best_worst(5, [(1, 3, [1, 2])]), "the worst item 3 is not among the items shown"),
    ],
)
def test_malformed_judgments_are_refused_with_what_and_where(build, message):
    with pytest.raises(ValueError, match=message):
        build()
