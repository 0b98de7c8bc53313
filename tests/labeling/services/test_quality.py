"""Each quality-control rule catches a planted bad annotator and spares an honest one."""

import random
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from accounts.models import User
from accounts.services import user_create
from labeling.models import CampaignItem, CampaignMember, CrowdSession, Judgment, PoolItem
from labeling.services.assignment import assignment_next
from labeling.services.crowd import CrowdArrival, crowd_session_start
from labeling.services.judgments import judgment_submit, judgment_undo
from labeling.services.quality import (
    attention_check_create,
    campaign_quality_update,
    gold_comparison_create,
    member_set_state,
    sequential_outlier_test,
    transitivity,
)
from tests.factories.judgments import judgments_bulk_create
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


def _pool(value) -> list[int]:
    return list(PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True))


def _answer(lease, annotator, truth, *, honest=True, side_biased=False, latency_ms=3000):
    """An honest annotator follows attention-check instructions and ranks by the truth; a bad one ranks against
    the truth (or, side-biased, always puts the first text shown first) and ignores instructions."""
    shown = list(lease.item_ids)
    if side_biased:
        ranked = shown
    elif lease.attention_check_id is not None and honest:
        expected = shown[lease.attention_check.expected_position]
        ranked = [expected] + [item for item in shown if item != expected]
    elif lease.attention_check_id is not None:
        ranked = shown  # ignores the instruction: the first text first
    else:
        ranked = sorted(shown, key=lambda item: -truth[item] if honest else truth[item])
    return judgment_submit(
        assignment_id=lease.pk, annotator=annotator, ordering=[[item] for item in ranked], latency_ms=latency_ms
    ).judgment


def _work(campaign, annotator, truth, *, n, seed=0, **behaviour):
    rng = random.Random(seed)
    answered = []
    for _ in range(n):
        nxt = assignment_next(campaign=campaign, annotator=annotator, rng=rng)
        if nxt.assignment is None:
            break
        answered.append(_answer(nxt.assignment, annotator, truth, **behaviour))
    return answered


def _member(campaign, annotator) -> CampaignMember:
    return CampaignMember.objects.get(campaign=campaign, annotator=annotator)


def _flags(member: CampaignMember) -> set[str]:
    return {flag["rule"] for flag in member.qc.get("flags", [])}


# --- gold ---------------------------------------------------------------------------------------------------------


def test_gold_pairs_are_served_silently_and_catch_an_annotator_who_gets_them_wrong(
    researcher, annotator, other_annotator
):
    value = value_with_pool(n_items=20)
    campaign = running_campaign(values=[value], created_by=researcher, gold_rate_start=0.5, gold_rate_end=0.5,
                                judgments_per_item=100)
    ids = _pool(value)
    truth = {item: float(index) for index, item in enumerate(ids)}
    for i in range(5):
        gold_comparison_create(campaign=campaign, stronger_id=ids[19 - i], weaker_id=ids[i], created_by=researcher)
    honest = _work(campaign, annotator, truth, n=20)
    dishonest = _work(campaign, other_annotator, truth, n=20, honest=False)

    good, bad = _member(campaign, annotator), _member(campaign, other_annotator)
    assert good.gold_answered >= 3 and good.gold_correct == good.gold_answered
    assert good.state == CampaignMember.State.ACTIVE
    assert bad.state == CampaignMember.State.PAUSED
    assert bad.gold_correct == 0 and bad.gold_answered == 3  # paused at the third wrong gold answer
    assert "gold accuracy 0/3 (0%) is below 60%" in bad.state_reason
    assert assignment_next(campaign=campaign, annotator=other_annotator).reason == "member_paused"
    # gold answers measure the annotator and stay out of fits and item exposure
    gold_judgments = [j for j in honest if j.assignment.gold_id is not None]
    assert gold_judgments and all(j.is_quality_check for j in gold_judgments)
    assert not any(j.is_quality_check for j in honest if j.assignment.gold_id is None)
    regular = sum(len(j.assignment.item_ids) for j in honest + dishonest if not j.is_quality_check)
    assert sum(CampaignItem.objects.filter(campaign=campaign).values_list("judgments_count", flat=True)) == regular


def test_gold_rate_tapers_from_start_to_end(researcher):
    from labeling.services.assignment import gold_rate

    campaign = running_campaign(values=[value_with_pool(n_items=4)], created_by=researcher, gold_rate_start=0.1,
                                gold_rate_end=0.02, gold_taper_judgments=100)
    assert gold_rate(campaign=campaign, judgments=0) == pytest.approx(0.1)
    assert gold_rate(campaign=campaign, judgments=50) == pytest.approx(0.06)
    assert gold_rate(campaign=campaign, judgments=500) == pytest.approx(0.02)


def test_an_undone_gold_answer_is_taken_back_and_scored_again(researcher, annotator):
    value = value_with_pool(n_items=6)
    campaign = running_campaign(values=[value], created_by=researcher, gold_rate_start=0.5, gold_rate_end=0.5)
    ids = _pool(value)
    gold_comparison_create(campaign=campaign, stronger_id=ids[5], weaker_id=ids[0], created_by=researcher)
    rng = random.Random(0)
    while (lease := assignment_next(campaign=campaign, annotator=annotator, rng=rng).assignment).gold_id is None:
        _answer(lease, annotator, {item: i for i, item in enumerate(ids)})
    wrong = judgment_submit(assignment_id=lease.pk, annotator=annotator, ordering=[[ids[0]], [ids[5]]]).judgment
    assert _member(campaign, annotator).gold_answered == 1
    again = judgment_undo(judgment_id=wrong.pk, annotator=annotator)
    assert again.gold_id == lease.gold_id
    assert _member(campaign, annotator).gold_answered == 0
    judgment_submit(assignment_id=again.pk, annotator=annotator, ordering=[[ids[5]], [ids[0]]])
    member = _member(campaign, annotator)
    assert (member.gold_answered, member.gold_correct) == (1, 1)


# --- attention checks (Prolific's rule) -------------------------------------------------------------------------


def _attention_campaign(researcher):
    value = value_with_pool(n_items=20)
    campaign = running_campaign(values=[value], created_by=researcher, attention_check_every=3, judgments_per_item=100)
    attention_check_create(campaign=campaign, prompt="To show you are reading: choose Text 2.", expected_position=1)
    return campaign, {item: float(i) for i, item in enumerate(_pool(value))}


def test_attention_checks_come_every_n_comparisons_with_their_instruction(researcher, annotator):
    campaign, truth = _attention_campaign(researcher)
    answered = _work(campaign, annotator, truth, n=9)
    checks = [j for j in answered if j.assignment.attention_check_id is not None]
    assert [answered.index(j) + 1 for j in checks] == [3, 6, 9]
    assert all(j.is_quality_check for j in checks)
    member = _member(campaign, annotator)
    assert (member.attention_answered, member.attention_failed) == (3, 0)
    assert member.state == CampaignMember.State.ACTIVE


def test_a_logged_in_annotator_failing_two_checks_is_paused_for_review(researcher, annotator):
    campaign, truth = _attention_campaign(researcher)
    _work(campaign, annotator, truth, n=9, honest=False)
    member = _member(campaign, annotator)
    assert member.attention_failed == 2  # paused at the second failure: the third check never came
    assert member.state == CampaignMember.State.PAUSED
    assert "failed 2 of 2 attention checks" in member.state_reason


def _crowd(campaign, pid: str, minutes_ago: float) -> User:
    session = crowd_session_start(
        campaign=campaign, arrival=CrowdArrival(platform="prolific", participant_id=pid, study_id="s1", session_id=pid)
    )
    CrowdSession.objects.filter(pk=session.pk).update(started_at=timezone.now() - timedelta(minutes=minutes_ago))
    return session.annotator


def test_prolific_rule_rejects_only_after_two_failures_in_a_study_of_five_minutes_or_more(researcher):
    campaign, truth = _attention_campaign(researcher)
    careless = _crowd(campaign, "pidcareless", minutes_ago=12)
    careful = _crowd(campaign, "pidcareful", minutes_ago=12)
    _work(campaign, careless, truth, n=3, honest=False)
    member = _member(campaign, careless)
    assert member.attention_failed == 1 and member.state == CampaignMember.State.ACTIVE  # one failure: recorded only
    _work(campaign, careless, truth, n=3, honest=False)
    member = _member(campaign, careless)
    session = CrowdSession.objects.get(annotator=careless)
    assert member.state == CampaignMember.State.REMOVED
    assert "Prolific's rule" in member.state_reason
    assert session.status == CrowdSession.Status.REJECTED and session.attention_failures == 2
    _work(campaign, careful, truth, n=9)
    assert _member(campaign, careful).state == CampaignMember.State.ACTIVE
    assert CrowdSession.objects.get(annotator=careful).status == CrowdSession.Status.ACTIVE


def test_prolific_rule_does_not_reject_in_a_session_under_five_minutes(researcher):
    campaign, truth = _attention_campaign(researcher)
    hurried = _crowd(campaign, "pidshort", minutes_ago=2)
    _work(campaign, hurried, truth, n=6, honest=False)
    session = CrowdSession.objects.get(annotator=hurried)
    assert session.attention_failures == 2 and session.status == CrowdSession.Status.ACTIVE
    assert _member(campaign, hurried).state == CampaignMember.State.ACTIVE


# --- too fast ---------------------------------------------------------------------------------------------------


def test_answers_faster_than_the_reading_floor_pause_the_annotator(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=20)
    # the test texts are ~20 characters: a pair has ~40, so the floor is ~800 ms
    campaign = running_campaign(values=[value], created_by=researcher, min_ms_per_char=20, judgments_per_item=100)
    truth = {item: float(i) for i, item in enumerate(_pool(value))}
    _work(campaign, annotator, truth, n=12, latency_ms=4000)
    _work(campaign, other_annotator, truth, n=12, latency_ms=150)
    assert _member(campaign, annotator).too_fast_count == 0
    assert _member(campaign, other_annotator).too_fast_count == 12
    campaign_quality_update(campaign=campaign)
    good, bad = _member(campaign, annotator), _member(campaign, other_annotator)
    assert _flags(good) == set() and good.state == CampaignMember.State.ACTIVE
    assert _flags(bad) == {"too_fast"} and bad.state == CampaignMember.State.PAUSED
    assert "12 of 12 answers were faster than the reading-time floor" in bad.state_reason


# --- transitivity -----------------------------------------------------------------------------------------------


def test_transitivity_counts_cyclic_triads():
    assert transitivity([(1, 2), (2, 3), (1, 3)]).rate == 0
    assert transitivity([(1, 2), (2, 3), (3, 1)]).rate == 1
    # a pair judged both ways has no direction: the triad is incomplete
    assert transitivity([(1, 2), (2, 1), (2, 3), (3, 1)]).triads == 0


def test_cyclic_preferences_pause_the_annotator(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=5)
    campaign = running_campaign(values=[value], created_by=researcher)
    ids = _pool(value)
    pairs = [(a, b) for a in range(5) for b in range(a + 1, 5)]
    consistent = [[[ids[b]], [ids[a]]] for a, b in pairs]  # the higher index always wins
    # a regular tournament: each text beats the next two around the circle (5 of the 10 triads are cycles)
    cyclic = [[[ids[a]], [ids[b]]] if (b - a) % 5 in (1, 2) else [[ids[b]], [ids[a]]] for a, b in pairs]
    for who in (annotator, other_annotator):
        CampaignMember.objects.create(campaign=campaign, annotator=who)
    judgments_bulk_create(campaign=campaign, value=value, annotators=[annotator], orderings=consistent)
    judgments_bulk_create(campaign=campaign, value=value, annotators=[other_annotator], orderings=cyclic)
    campaign_quality_update(campaign=campaign)
    good, bad = _member(campaign, annotator), _member(campaign, other_annotator)
    assert good.qc["transitivity"] == {"triads": 10, "cyclic": 0, "rate": 0.0}
    assert bad.qc["transitivity"] == {"triads": 10, "cyclic": 5, "rate": 0.5}
    assert good.state == CampaignMember.State.ACTIVE
    assert bad.state == CampaignMember.State.PAUSED and "5 of 10 fully judged triads are cyclic" in bad.state_reason


# --- test–retest ------------------------------------------------------------------------------------------------


def test_swapped_repeats_catch_an_annotator_who_always_picks_the_left_text(researcher, annotator, other_annotator):
    value = value_with_pool(n_items=30)
    campaign = running_campaign(values=[value], created_by=researcher, repeat_rate=0.4, judgments_per_item=100)
    truth = {item: float(i) for i, item in enumerate(_pool(value))}
    _work(campaign, annotator, truth, n=24, seed=4)
    _work(campaign, other_annotator, truth, n=24, seed=4, side_biased=True)
    campaign_quality_update(campaign=campaign)
    good, bad = _member(campaign, annotator), _member(campaign, other_annotator)
    assert good.qc["retest"]["repeats"] >= 4 and good.qc["retest"]["agreement"] == 1.0
    assert bad.qc["retest"]["repeats"] >= 4 and bad.qc["retest"]["agreement"] == 0.0
    assert "retest" not in _flags(good) and good.state == CampaignMember.State.ACTIVE
    assert "retest" in _flags(bad) and bad.state == CampaignMember.State.PAUSED


# --- Chatbot Arena's sequential outlier test --------------------------------------------------------------------


def _population(rates: dict[int, float], per_bin: int = 400) -> dict[int, tuple[int, int]]:
    return {bin_: (per_bin, int(rate * per_bin)) for bin_, rate in rates.items()}


def test_the_outlier_test_keeps_its_level_for_annotators_like_the_population():
    rates = {0: 0.45, 1: 0.35, 2: 0.25, 3: 0.12, 4: 0.04}
    population = _population(rates)
    rng = np.random.default_rng(0)
    flagged = 0
    trials = 300
    for trial in range(trials):
        bins = rng.integers(0, 5, size=80)
        votes = [(bool(rng.random() < rates[b]), int(b)) for b in bins]
        flagged += sequential_outlier_test(votes=votes, population=population, seed=(1, trial)).flagged
    assert flagged / trials <= 0.08  # α = 0.05 over all checkpoints (sampling noise allowed)


def test_the_outlier_test_catches_spammers_and_adversaries():
    rates = {0: 0.45, 1: 0.35, 2: 0.25, 3: 0.12, 4: 0.04}
    population = _population(rates)
    rng = np.random.default_rng(1)
    spam_flags = 0
    for trial in range(100):
        bins = rng.integers(0, 5, size=80)
        votes = [(bool(rng.random() < 0.5), int(b)) for b in bins]  # random answers
        spam_flags += sequential_outlier_test(votes=votes, population=population, seed=(2, trial)).flagged
    assert spam_flags >= 80
    adversary = [(True, b) for b in (2, 3, 4, 3, 2)]  # five votes against clear published orders
    result = sequential_outlier_test(votes=adversary, population=population, seed=(3,))
    assert result.flagged and result.checkpoint == 5
    assert sequential_outlier_test(votes=adversary[:4], population=population, seed=(3,)).statistic is None


def test_outlier_test_on_a_campaign_flags_the_adversary_against_the_published_order(researcher):
    value = value_with_pool(n_items=40)
    campaign = running_campaign(values=[value], created_by=researcher)
    ids = _pool(value)
    rng = np.random.default_rng(7)
    utilities = {item: float(u) for item, u in zip(ids, rng.normal(0, 1.5, len(ids)), strict=True)}
    PoolItem.objects.bulk_update(
        [PoolItem(pk=item, utility=u, utility_se=0.3) for item, u in utilities.items()], ["utility", "utility_se"]
    )
    crowd = [user_create(username=f"honest{i}", password="pass-12345-x", role=User.Role.ANNOTATOR) for i in range(6)]
    adversary = user_create(username="adversary", password="pass-12345-x", role=User.Role.ANNOTATOR)
    for who in [*crowd, adversary]:
        CampaignMember.objects.create(campaign=campaign, annotator=who)

    def pairs(n):
        return [tuple(rng.choice(ids, size=2, replace=False)) for _ in range(n)]

    honest_orderings = []
    for a, b in pairs(6 * 60):  # Bradley–Terry answers from the published utilities
        a_wins = rng.random() < 1 / (1 + np.exp(utilities[b] - utilities[a]))
        honest_orderings.append([[int(a)], [int(b)]] if a_wins else [[int(b)], [int(a)]])
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=honest_orderings)
    against = [[[int(a)], [int(b)]] if utilities[a] < utilities[b] else [[int(b)], [int(a)]] for a, b in pairs(40)]
    judgments_bulk_create(campaign=campaign, value=value, annotators=[adversary], orderings=against)
    campaign_quality_update(campaign=campaign)

    bad = _member(campaign, adversary)
    assert bad.qc["outlier"]["flagged"] and bad.qc["outlier"]["disagreement"] == 1.0
    assert "outlier" in _flags(bad) and bad.state == CampaignMember.State.PAUSED
    honest = [_member(campaign, who) for who in crowd]
    assert all(member.qc["outlier"]["votes"] == 60 for member in honest)
    # The test runs at α = 0.05 per annotator and randomises its p-values with a seed made of the campaign's and the
    # annotator's ids, which change from run to run. An honest annotator whose first votes happen to go against
    # clear orders is flagged for some seeds: in these votes one of the six is, for about 10 % of seeds (measured
    # over 4 000 seeds). Three of six flagged would come about once in a million runs; a fault that flags honest
    # work (the wrong bins, the annotator's own votes in the reference) flags most of them.
    flagged = [member for member in honest if member.qc["outlier"]["flagged"]]
    assert len(flagged) <= 2
    for member in honest:  # an outlier flag pauses, and nothing else in honest work does
        assert _flags(member) <= {"outlier"}
        assert (member.state == CampaignMember.State.PAUSED) == (member in flagged)


# --- review -----------------------------------------------------------------------------------------------------


def test_a_researcher_reinstates_a_paused_annotator_and_the_same_evidence_does_not_pause_them_again(
    researcher, annotator
):
    value = value_with_pool(n_items=20)
    campaign = running_campaign(values=[value], created_by=researcher, min_ms_per_char=20, judgments_per_item=100)
    truth = {item: float(i) for i, item in enumerate(_pool(value))}
    _work(campaign, annotator, truth, n=12, latency_ms=100)
    campaign_quality_update(campaign=campaign)
    member = _member(campaign, annotator)
    assert member.state == CampaignMember.State.PAUSED and member.state_changed_by is None
    member = member_set_state(member=member, state=CampaignMember.State.ACTIVE, changed_by=researcher)
    assert member.state_changed_by == researcher and member.qc["cleared"] == ["too_fast"]
    campaign_quality_update(campaign=campaign)
    assert _member(campaign, annotator).state == CampaignMember.State.ACTIVE
    assert _flags(_member(campaign, annotator)) == {"too_fast"}  # still shown to researchers
    member = member_set_state(member=member, state=CampaignMember.State.REMOVED, reason="copies answers",
                              changed_by=researcher)
    assert member.state_reason == "copies answers"
    assert assignment_next(campaign=campaign, annotator=annotator).reason == "member_removed"


def test_pausing_needs_a_reason_and_gives_open_leases_back(researcher, annotator):
    from common.exceptions import ApplicationError

    campaign = running_campaign(values=[value_with_pool(n_items=6)], created_by=researcher)
    lease = assignment_next(campaign=campaign, annotator=annotator).assignment
    member = _member(campaign, annotator)
    with pytest.raises(ApplicationError, match="Say why"):
        member_set_state(member=member, state=CampaignMember.State.PAUSED, reason=" ", changed_by=researcher)
    with pytest.raises(ApplicationError, match="Unknown member state 'asleep'"):
        member_set_state(member=member, state="asleep", reason="x", changed_by=researcher)
    member_set_state(member=member, state=CampaignMember.State.PAUSED, reason="review", changed_by=researcher)
    lease.refresh_from_db()
    assert lease.status == "released"
    assert not CampaignItem.objects.filter(campaign=campaign, in_flight__gt=0).exists()
    assert not Judgment.objects.exists()


def test_recompute_now_runs_as_a_job_that_reports_the_members_and_who_was_paused(researcher, annotator):
    from common.models import Job
    from common.services import job_run
    from labeling.services.quality import quality_update_start

    value = value_with_pool(n_items=20)
    campaign = running_campaign(values=[value], created_by=researcher, min_ms_per_char=20, judgments_per_item=100)
    truth = {item: float(i) for i, item in enumerate(_pool(value))}
    _work(campaign, annotator, truth, n=12, latency_ms=100)
    job = job_run(job_id=quality_update_start(campaign=campaign, created_by=researcher).pk)
    assert job.status == Job.Status.SUCCEEDED, job.message
    assert job.result == {"members": 1, "paused": 1, "removed": 0, "contested_pairs_queued": 0}
    assert _member(campaign, annotator).state == CampaignMember.State.PAUSED


def test_the_periodic_update_recomputes_only_campaigns_with_new_judgments(researcher, annotator):
    from labeling.services.quality import running_campaigns_quality_update

    value = value_with_pool(n_items=10)
    campaign = running_campaign(values=[value], created_by=researcher, judgments_per_item=100)
    truth = {item: float(i) for i, item in enumerate(_pool(value))}
    _work(campaign, annotator, truth, n=3)
    assert running_campaigns_quality_update() == 1
    assert _member(campaign, annotator).qc["judgments"] == 3
    assert running_campaigns_quality_update() == 0  # nothing new
    last = _work(campaign, annotator, truth, n=1)[0]
    judgment_undo(judgment_id=last.pk, annotator=annotator)  # an undone answer is not new work
    assert running_campaigns_quality_update() == 0
