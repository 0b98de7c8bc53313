"""Quality control for preference judgments: scoring gold and attention-check answers as they arrive, per-annotator
quality figures, the rules that pause an annotator, and researchers' review (reinstate or remove).

Gold answers and majority votes do not fit "which text expresses the value more" on their own (Toloka says as
much), so most figures here compare an annotator with themselves or with the model-based consensus:

- gold accuracy: gold comparisons (a known order with a large intensity gap) answered correctly;
- attention checks: instructed responses failed, judged by Prolific's rule (see `ATTENTION_FAILURES_TO_REJECT`);
- too fast: answers quicker than `Campaign.min_ms_per_char` × the characters of the texts shown;
- transitivity: the share of the annotator's fully judged item triads whose preferences form a cycle
  (a > b > c > a); a consistent annotator makes none, one answering at random makes a quarter;
- test–retest: agreement between a comparison and its deliberate repeat, which is shown in reverse order (an
  annotator who always picks the left text agrees with none of their repeats);
- Chatbot Arena's sequential outlier test, adapted to published utilities (`sequential_outlier_test`).

Figures are stored in `CampaignMember.qc` by `campaign_quality_update`, which a periodic task runs for running
campaigns; gold and attention-check answers are also judged at once when submitted. An annotator whose figures
break a rule is paused with the evidence as the reason; a researcher reviews them (views/quality.py) and
reinstates or removes them. Reinstating clears the flags shown at that time: only new kinds of evidence pause
the annotator again.
"""

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Length
from django.utils import timezone

from common.exceptions import ApplicationError
from common.jobs import JobContext
from common.models import Job
from common.services import job_create
from labeling.models import (
    Assignment,
    AttentionCheck,
    Campaign,
    CampaignItem,
    CampaignMember,
    CrowdSession,
    GoldComparison,
    Judgment,
    PoolItem,
)
from labeling.services.assignment import assignments_release_open

logger = logging.getLogger("valueflow.quality")

# --- thresholds of the rules (each with where it comes from) ------------------------------------------------------
# Toloka bans below ~60 % gold accuracy after at least 3 gold answers.
GOLD_MIN_ANSWERED = 3
GOLD_MIN_ACCURACY = 0.6
# Prolific: at least two failed attention checks before rejecting, and only in studies of five minutes or more.
ATTENTION_FAILURES_TO_REJECT = 2
ATTENTION_MIN_STUDY = timedelta(minutes=5)
# Too fast: more than 30 % of at least 10 answers under the campaign's reading-time floor.
TOO_FAST_MIN_JUDGMENTS = 10
TOO_FAST_MAX_SHARE = 0.3
# Transitivity: random answers make 25 % of fully judged triads cyclic, a consistent annotator none; noise on close
# items makes a few. Pause above 20 % once at least 5 triads are fully judged.
TRANSITIVITY_MIN_TRIADS = 5
TRANSITIVITY_MAX_RATE = 0.2
# Test–retest: agreement below one half (random answers on pairs agree half the time) over at least 4 repeats.
RETEST_MIN_REPEATS = 4
RETEST_MIN_AGREEMENT = 0.5
# Chatbot Arena's per-user outlier test: at least 5 votes, α = 0.05 over all checkpoints.
OUTLIER_MIN_VOTES = 5
OUTLIER_ALPHA = 0.05
# Utility-gap bins within which the population's disagreement with the consensus is the reference (a vote on two
# close items disagrees with the published order far more often than one on distant items).
OUTLIER_GAP_EDGES = (0.25, 0.5, 1.0, 2.0)

RULES = ("gold", "attention", "too_fast", "transitivity", "retest", "outlier")


# --- member state: pause, reinstate, remove -------------------------------------------------------------------------


def member_set_state(*, member: CampaignMember, state: str, reason: str = "", changed_by=None) -> CampaignMember:  # type: ignore[no-untyped-def]
    """Pause, reinstate or remove an annotator in a campaign (quality control or a researcher's review).

    Pausing or removing needs a reason (it is shown to researchers, and tells the annotator's record why) and
    gives back the annotator's open leases. Reinstating records which flags the researcher saw, so the same
    evidence does not pause the annotator again. `changed_by` is None when a rule acted on its own.
    """
    if state not in CampaignMember.State.values:
        raise ApplicationError(
            f"Unknown member state {state!r}: expected one of {', '.join(CampaignMember.State.values)}.",
            extra={"field": "state"},
        )
    if state != CampaignMember.State.ACTIVE and not reason.strip():
        raise ApplicationError("Say why the annotator is paused or removed.", extra={"field": "reason"})
    with transaction.atomic():
        member = CampaignMember.objects.select_for_update().get(pk=member.pk)
        qc = dict(member.qc or {})
        if state == CampaignMember.State.ACTIVE:
            qc["cleared"] = sorted({*qc.get("cleared", []), *(flag["rule"] for flag in qc.get("flags", []))})
        member.state = state
        member.state_reason = reason.strip()[:300]
        member.state_changed_by = changed_by
        member.qc = qc
        member.save(update_fields=["state", "state_reason", "state_changed_by", "qc"])
        if state != CampaignMember.State.ACTIVE:
            assignments_release_open(campaign_id=member.campaign_id, annotator_id=member.annotator_id)
    logger.info("member %s of campaign %s is now %s: %s", member.annotator_id, member.campaign_id, state, reason)
    return member


# --- researchers: gold comparisons and attention checks -----------------------------------------------------------


def gold_comparison_create(*, campaign: Campaign, stronger_id: int, weaker_id: int, created_by) -> GoldComparison:  # type: ignore[no-untyped-def]
    """A curated gold pair: `stronger` expresses the value clearly more than `weaker` (pool item ids)."""
    if stronger_id == weaker_id:
        raise ApplicationError("A gold comparison needs two different texts.", extra={"field": "weaker_id"})
    found = dict(
        CampaignItem.objects.filter(campaign=campaign, pool_item_id__in=[stronger_id, weaker_id]).values_list(
            "pool_item_id", "value_id"
        )
    )
    missing = [str(item) for item in (stronger_id, weaker_id) if item not in found]
    if missing:
        raise ApplicationError(
            f"Pool item {', '.join(missing)} is not part of this campaign.",
            extra={"field": "stronger_id", "missing": missing},
        )
    if found[stronger_id] != found[weaker_id]:
        raise ApplicationError(
            "Both texts of a gold comparison must be in the same value's pool.", extra={"field": "weaker_id"}
        )
    if GoldComparison.objects.filter(campaign=campaign, stronger_id__in=[stronger_id, weaker_id],
                                     weaker_id__in=[stronger_id, weaker_id]).exists():
        raise ApplicationError("This pair is already a gold comparison of the campaign.", status_code=409)
    return GoldComparison.objects.create(
        campaign=campaign, value_id=found[stronger_id], stronger_id=stronger_id, weaker_id=weaker_id,
        source=GoldComparison.Source.CURATED, created_by=created_by,
    )


def gold_comparison_set_active(*, gold: GoldComparison, is_active: bool) -> GoldComparison:
    gold.is_active = is_active
    gold.save(update_fields=["is_active"])
    return gold


def attention_check_create(*, campaign: Campaign, prompt: str, expected_position: int) -> AttentionCheck:
    """An instructed response: the card shows `prompt` as the instruction, and the answer must put the text at
    `expected_position` (0-based, in the order shown) first."""
    if not prompt.strip():
        raise ApplicationError("An attention check needs its instruction.", extra={"field": "prompt"})
    if not 0 <= expected_position < campaign.list_size:
        raise ApplicationError(
            f"This campaign shows {campaign.list_size} texts: the expected text is 1–{campaign.list_size}.",
            extra={"field": "expected_position"},
        )
    return AttentionCheck.objects.create(campaign=campaign, prompt=prompt.strip(), expected_position=expected_position)


def attention_check_set_active(*, check: AttentionCheck, is_active: bool) -> AttentionCheck:
    check.is_active = is_active
    check.save(update_fields=["is_active"])
    return check


# --- judging answers to quality-control items -------------------------------------------------------------------


def relation(groups: Sequence[Sequence[int]], kind: str, a: int, b: int) -> str | None:
    """How an answer orders a against b: ">" (a expresses the value more), "<", "=" (tied, or "neither") or None
    when the answer does not say (two items in the unordered middle of a best–worst answer)."""
    if kind == Judgment.Kind.NEITHER:
        return "="
    position = {item: index for index, group in enumerate(groups) for item in group}
    if a not in position or b not in position:
        return None
    if kind == Judgment.Kind.BEST_WORST and position[a] == position[b] == 1:
        return None
    if position[a] == position[b]:
        return "="
    return ">" if position[a] < position[b] else "<"


def gold_answer_correct(*, gold: GoldComparison, groups: Sequence[Sequence[int]], kind: str) -> bool | None:
    """True when the answer puts the stronger text above the weaker one; a tie or "neither" is wrong (a gold
    pair has a large, known gap); None when the answer does not order the two (best–worst middle)."""
    found = relation(groups, kind, gold.stronger_id, gold.weaker_id)
    return None if found is None else found == ">"


def attention_answer_passed(
    *, assignment: Assignment, check: AttentionCheck, groups: Sequence[Sequence[int]], kind: str
) -> bool:
    """The check asks for the text at `expected_position` (in the order shown) to be chosen: it must come first,
    alone."""
    expected = assignment.item_ids[check.expected_position]
    return kind != Judgment.Kind.NEITHER and list(groups[0]) == [expected]


def answer_is_too_fast(*, campaign: Campaign, item_ids: Sequence[int], latency_ms: int | None) -> bool:
    """Faster than the campaign's floor of min_ms_per_char milliseconds per character of the texts shown."""
    if campaign.min_ms_per_char <= 0 or latency_ms is None:
        return False
    characters = (
        PoolItem.objects.filter(pk__in=item_ids).aggregate(n=Sum(Length("text__content")))["n"] or 0
    )
    return latency_ms < campaign.min_ms_per_char * characters


def answer_counters(
    *, campaign: Campaign, assignment: Assignment, groups: Sequence[Sequence[int]], kind: str, latency_ms: int | None
) -> dict[str, int]:
    """What an answer adds to the member's quality counters (CampaignMember field → increment)."""
    counters: dict[str, int] = {}
    if assignment.gold is not None:
        correct = gold_answer_correct(gold=assignment.gold, groups=groups, kind=kind)
        if correct is not None:
            counters["gold_answered"] = 1
            counters["gold_correct"] = int(correct)
    if assignment.attention_check is not None:
        counters["attention_answered"] = 1
        passed = attention_answer_passed(
            assignment=assignment, check=assignment.attention_check, groups=groups, kind=kind
        )
        counters["attention_failed"] = int(not passed)
    if answer_is_too_fast(campaign=campaign, item_ids=assignment.item_ids, latency_ms=latency_ms):
        counters["too_fast_count"] = 1
    return counters


def do_quality_check_rules(*, campaign: Campaign, annotator, counters: dict[str, int], now=None) -> None:  # type: ignore[no-untyped-def]
    """Call inside the submitting transaction, after the counters were added: act on gold and attention answers
    at once (the other figures wait for the periodic update).

    Attention checks follow Prolific's rule: a failure is recorded (also on the participant's crowd session);
    from the second failure on, a crowd participant whose session has lasted five minutes or more is rejected —
    the session becomes "rejected" and the member "removed" — while a shorter session is only recorded. A
    logged-in annotator (no crowd session) is paused for a researcher's review instead of removed.
    """
    now = now or timezone.now()
    sessions = CrowdSession.objects.filter(campaign=campaign, annotator=annotator, status=CrowdSession.Status.ACTIVE)
    if counters.get("attention_failed"):
        sessions.update(attention_failures=F("attention_failures") + 1)
    if not (counters.get("attention_failed") or counters.get("gold_answered")):
        return
    member = CampaignMember.objects.select_for_update().get(campaign=campaign, annotator=annotator)
    if member.state != CampaignMember.State.ACTIVE:
        return
    cleared = set((member.qc or {}).get("cleared", []))
    rejectable = member.attention_failed >= ATTENTION_FAILURES_TO_REJECT and "attention" not in cleared
    if counters.get("attention_failed") and rejectable:
        evidence = f"failed {member.attention_failed} of {member.attention_answered} attention checks"
        session = sessions.order_by("-started_at").first()
        if session is None:
            member_set_state(member=member, state=CampaignMember.State.PAUSED, reason=f"quality control: {evidence}")
        elif now - session.started_at >= ATTENTION_MIN_STUDY:
            CrowdSession.objects.filter(pk=session.pk).update(status=CrowdSession.Status.REJECTED, finished_at=now)
            member_set_state(
                member=member,
                state=CampaignMember.State.REMOVED,
                reason=f"rejected by Prolific's rule: {evidence} in a session of five minutes or more",
            )
        else:
            logger.info("annotator %s %s, but the session is under five minutes: recorded only", annotator.pk, evidence)
        return
    flag = gold_flag(answered=member.gold_answered, correct=member.gold_correct)
    if flag is not None and "gold" not in cleared:
        member_set_state(
            member=member, state=CampaignMember.State.PAUSED, reason=f"quality control: {flag['evidence']}"
        )


def gold_flag(*, answered: int, correct: int) -> dict[str, str] | None:
    if answered >= GOLD_MIN_ANSWERED and correct / answered < GOLD_MIN_ACCURACY:
        return {
            "rule": "gold",
            "evidence": f"gold accuracy {correct}/{answered} ({correct / answered:.0%}) is below "
            f"{GOLD_MIN_ACCURACY:.0%} after at least {GOLD_MIN_ANSWERED} gold answers",
        }
    return None


# --- per-annotator figures (pure functions over plain ids) ----------------------------------------------------------


def pairwise_preferences(groups: Sequence[Sequence[int]], kind: str) -> list[tuple[int, int]]:
    """(winner, loser) pairs an answer states. Ties and "neither" state none; best–worst states best > every other
    item and every other item > worst (the middle stays unordered)."""
    if kind == Judgment.Kind.NEITHER:
        return []
    if kind == Judgment.Kind.BEST_WORST:
        best, middle, worst = groups[0][0], list(groups[1]), groups[2][0]
        return [(best, item) for item in [*middle, worst]] + [(item, worst) for item in middle]
    return [(a, b) for i, group in enumerate(groups) for lower in groups[i + 1:] for a in group for b in lower]


@dataclass(frozen=True)
class Transitivity:
    triads: int  # item triads with all three pairs judged (by their net preference)
    cyclic: int  # of those, triads whose preferences form a cycle

    @property
    def rate(self) -> float | None:
        return self.cyclic / self.triads if self.triads else None


def transitivity(preferences: Iterable[tuple[int, int]]) -> Transitivity:
    """Cyclic triads among an annotator's preferences. A pair judged several times counts by its net direction
    (a balanced pair has none); triads are the triangles of the judged-pairs graph."""
    net: Counter[tuple[int, int]] = Counter()
    for winner, loser in preferences:
        low, high = min(winner, loser), max(winner, loser)
        net[(low, high)] += 1 if winner == low else -1
    beats: dict[int, set[int]] = defaultdict(set)
    neighbours: dict[int, set[int]] = defaultdict(set)
    for (low, high), balance in net.items():
        if balance == 0:
            continue
        winner, loser = (low, high) if balance > 0 else (high, low)
        beats[winner].add(loser)
        neighbours[low].add(high)
        neighbours[high].add(low)
    triads = cyclic = 0
    for a, around_a in neighbours.items():
        for b in around_a:
            if b <= a:
                continue
            for c in around_a & neighbours[b]:
                if c <= b:
                    continue
                triads += 1
                forwards = b in beats[a] and c in beats[b] and a in beats[c]
                backwards = c in beats[a] and b in beats[c] and a in beats[b]
                cyclic += forwards or backwards
    return Transitivity(triads=triads, cyclic=cyclic)


Answer = tuple[Sequence[Sequence[int]], str]  # (groups strongest → weakest, kind)


def answers_agreement(first: Answer, second: Answer, items: Sequence[int]) -> float | None:
    """Share of item pairs two answers to the same items order the same way (">", "<" or "="); pairs either
    answer leaves unordered are left out."""
    same = total = 0
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            one, two = relation(*first, a, b), relation(*second, a, b)
            if one is None or two is None:
                continue
            total += 1
            same += one == two
    return same / total if total else None


def judgment_vote(groups: Sequence[Sequence[int]], kind: str, shown: Sequence[int]) -> tuple[int, int] | None:
    """One (winner, loser) vote per judgment for the outlier test: the first pair in the order shown that the
    answer orders strictly. One vote per judgment keeps the votes independent (a list's pairs are not)."""
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            found = relation(groups, kind, a, b)
            if found == ">":
                return a, b
            if found == "<":
                return b, a
    return None


def gap_bin(gap: float) -> int:
    return sum(gap >= edge for edge in OUTLIER_GAP_EDGES)


@dataclass(frozen=True)
class OutlierTest:
    votes: int  # votes with a population reference
    disagreement: float | None  # the annotator's share of votes against the published order
    statistic: float | None  # Fisher's M at the deciding (or last passed) checkpoint
    threshold: float | None
    checkpoint: int | None  # number of votes at that checkpoint
    flagged: bool


def sequential_outlier_test(
    *,
    votes: Sequence[tuple[bool, int]],
    population: dict[int, tuple[int, int]],
    seed: Sequence[int],
    alpha: float = OUTLIER_ALPHA,
) -> OutlierTest:
    """Chatbot Arena's per-user sequential test (Chiang et al. 2024, §5.1), with the published order as the
    reference.

    `votes` are the annotator's votes in the order given: (disagrees with the published order, utility-gap bin).
    `population[bin]` = (votes, disagreements) of every other annotator in that bin: the "historical
    distribution" of Arena's test. Each vote gets Arena's conformal p-value — the rank of the vote among the
    population's, counting a disagreement as more extreme than an agreement — randomised within ties so that it
    is exactly uniform for an annotator who behaves like the population:

        disagrees: p = U (1 + D) / (N + 1)        agrees: p = (D + U (1 + N − D)) / (N + 1),   U ~ Uniform(0, 1)

    (U comes from a generator seeded with `seed`, so a recomputation gives the same answer.) Fisher's statistic
    M_j = −2 Σ_{i ≤ j} log p_i is χ² with 2j degrees of freedom under that null. Arena checks it at five
    checkpoints at level α/5 each; here the checkpoints are j = 5, 10, 20, 40, … (Arena's minimum of 5 votes,
    doubling) and checkpoint k is tested at level α/2^k. The levels sum to α, so the chance of flagging an
    annotator who votes like the population stays below α however long they work. Flagged when M_j exceeds the
    (1 − α/2^k) quantile at any checkpoint reached. Votes in a bin where nobody else voted are left out.
    """
    from scipy.stats import chi2  # only the periodic update needs scipy; keep it out of every request's imports

    referenced = [(disagrees, bin_) for disagrees, bin_ in votes if population.get(bin_, (0, 0))[0] > 0]
    n = len(referenced)
    disagreement = sum(d for d, _ in referenced) / n if n else None
    if n < OUTLIER_MIN_VOTES:
        return OutlierTest(n, disagreement, statistic=None, threshold=None, checkpoint=None, flagged=False)
    uniforms = np.random.default_rng(list(seed)).random(n)
    log_p = np.empty(n)
    for i, ((disagrees, bin_), u) in enumerate(zip(referenced, uniforms, strict=True)):
        total, disagreeing = population[bin_]
        if disagrees:
            p = u * (1 + disagreeing) / (total + 1)
        else:
            p = (disagreeing + u * (1 + total - disagreeing)) / (total + 1)
        log_p[i] = math.log(max(p, 1e-300))
    cumulative = -2.0 * np.cumsum(log_p)
    statistic = threshold = None
    checkpoint, k = OUTLIER_MIN_VOTES, 1
    while checkpoint <= n:
        statistic = float(cumulative[checkpoint - 1])
        threshold = float(chi2.isf(alpha / 2**k, 2 * checkpoint))
        if statistic >= threshold:
            return OutlierTest(n, disagreement, statistic, threshold, checkpoint, flagged=True)
        checkpoint, k = checkpoint * 2, k + 1
    return OutlierTest(n, disagreement, statistic, threshold, checkpoint // 2, flagged=False)


# --- recomputing a campaign's figures -------------------------------------------------------------------------------


@dataclass
class _AnnotatorData:
    preferences: list[tuple[int, int]]
    votes: list[tuple[bool, int]]
    answers: dict[int, tuple[list[list[int]], str, list[int]]]  # assignment id → (groups, kind, items)
    repeats: list[tuple[int, int]]  # (repeat assignment id, original assignment id)
    judgments: int


def campaign_quality_update(*, campaign: Campaign, now=None) -> int:  # type: ignore[no-untyped-def]
    """Recompute every member's quality figures from the campaign's judgments (one pass, O(judgments)), store them
    in CampaignMember.qc and pause members whose figures break a rule. Returns the number of members updated."""
    now = now or timezone.now()
    scored = CampaignItem.objects.filter(campaign=campaign, pool_item__utility__isnull=False)
    utilities = {
        item: utility
        for item, utility in scored.values_list("pool_item_id", "pool_item__utility")
        if utility is not None
    }
    data: dict[int, _AnnotatorData] = defaultdict(lambda: _AnnotatorData([], [], {}, [], 0))
    population: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    watermark = 0
    rows = (
        Judgment.objects.filter(campaign=campaign, retraction__isnull=True, is_quality_check=False)
        .order_by("id")
        .values_list("id", "annotator_id", "kind", "ordering", "shown_order", "assignment_id",
                     "assignment__is_repeat", "assignment__repeat_of_id")
    )
    for row in rows.iterator(chunk_size=5000):
        judgment_id, annotator_id, kind, groups, shown, assignment_id, is_repeat, repeat_of_id = row
        watermark = judgment_id
        mine = data[annotator_id]
        mine.judgments += 1
        mine.preferences += pairwise_preferences(groups, kind)
        mine.answers[assignment_id] = (groups, kind, shown)
        if is_repeat and repeat_of_id is not None:
            mine.repeats.append((assignment_id, repeat_of_id))
        vote = judgment_vote(groups, kind, shown)
        if vote is not None and vote[0] in utilities and vote[1] in utilities:
            gap = utilities[vote[0]] - utilities[vote[1]]
            if gap != 0:
                disagrees, bin_ = gap < 0, gap_bin(abs(gap))
                mine.votes.append((disagrees, bin_))
                population[bin_][0] += 1
                population[bin_][1] += int(disagrees)
    updated = 0
    for member in CampaignMember.objects.filter(campaign=campaign).only("pk", "annotator_id"):
        figures = _member_figures(
            campaign=campaign, annotator_id=member.annotator_id, mine=data.get(member.annotator_id),
            population=population,
        )
        _do_member_figures_store(member_id=member.pk, figures=figures, watermark=watermark, now=now)
        updated += 1
    return updated


def _member_figures(  # type: ignore[no-untyped-def]
    *, campaign: Campaign, annotator_id: int, mine: _AnnotatorData | None, population
) -> dict[str, Any]:
    mine = mine or _AnnotatorData([], [], {}, [], 0)
    triads = transitivity(mine.preferences)
    agreements = []
    for repeat_id, original_id in mine.repeats:
        if original_id not in mine.answers:
            continue  # the original was undone
        (groups, kind, items), (first_groups, first_kind, _) = mine.answers[repeat_id], mine.answers[original_id]
        agreement = answers_agreement((groups, kind), (first_groups, first_kind), items)
        if agreement is not None:
            agreements.append(agreement)
    # leave the annotator's own votes out of the population they are compared with
    own: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for disagrees, bin_ in mine.votes:
        own[bin_][0] += 1
        own[bin_][1] += int(disagrees)
    others = {
        bin_: (total - own[bin_][0], disagreeing - own[bin_][1]) for bin_, (total, disagreeing) in population.items()
    }
    outlier = sequential_outlier_test(votes=mine.votes, population=others, seed=(campaign.pk, annotator_id))
    return {
        "judgments": mine.judgments,
        "transitivity": {"triads": triads.triads, "cyclic": triads.cyclic, "rate": triads.rate},
        "retest": {
            "repeats": len(agreements),
            "agreement": sum(agreements) / len(agreements) if agreements else None,
        },
        "outlier": asdict(outlier),
    }


# The rules member_flags judges from labeling's own figures. Other flags in qc["flags"] are raised elsewhere (the
# "reliability" rule by the modeling side's refit) and are kept as they are when these figures are recomputed.
LABELING_RULES = frozenset({"gold", "attention", "too_fast", "transitivity", "retest", "outlier"})


def member_flags(member: CampaignMember, qc: dict[str, Any]) -> list[dict[str, str]]:
    """The rules the member's figures break, each with its evidence in words, after the flags other parts of the
    platform raised (reliability)."""
    flags = [flag for flag in qc.get("flags", []) if flag.get("rule") not in LABELING_RULES]
    gold = gold_flag(answered=member.gold_answered, correct=member.gold_correct)
    if gold:
        flags.append(gold)
    if member.attention_failed >= ATTENTION_FAILURES_TO_REJECT:
        flags.append({"rule": "attention", "evidence": f"failed {member.attention_failed} of "
                      f"{member.attention_answered} attention checks (Prolific: two failures allow a rejection)"})
    judged = member.judgments_count
    if judged >= TOO_FAST_MIN_JUDGMENTS and member.too_fast_count / judged >= TOO_FAST_MAX_SHARE:
        flags.append({"rule": "too_fast", "evidence": f"{member.too_fast_count} of {member.judgments_count} answers "
                      f"were faster than the reading-time floor (limit {TOO_FAST_MAX_SHARE:.0%})"})
    triads = qc.get("transitivity", {})
    if triads.get("triads", 0) >= TRANSITIVITY_MIN_TRIADS and triads["rate"] > TRANSITIVITY_MAX_RATE:
        flags.append({"rule": "transitivity", "evidence": f"{triads['cyclic']} of {triads['triads']} fully judged "
                      f"triads are cyclic ({triads['rate']:.0%}; limit {TRANSITIVITY_MAX_RATE:.0%}, "
                      "random answers 25 %)"})
    retest = qc.get("retest", {})
    if retest.get("repeats", 0) >= RETEST_MIN_REPEATS and retest["agreement"] < RETEST_MIN_AGREEMENT:
        flags.append({"rule": "retest", "evidence": f"agrees with {retest['agreement']:.0%} of their own "
                      f"{retest['repeats']} repeated comparisons (shown reversed; limit {RETEST_MIN_AGREEMENT:.0%})"})
    outlier = qc.get("outlier", {})
    if outlier.get("flagged"):
        flags.append({"rule": "outlier", "evidence": "sequential outlier test: Fisher's M = "
                      f"{outlier['statistic']:.1f} "
                      f"≥ {outlier['threshold']:.1f} after {outlier['checkpoint']} votes; disagrees with the published "
                      f"order in {outlier['disagreement']:.0%} of {outlier['votes']} votes"})
    return flags


def _do_member_figures_store(*, member_id: int, figures: dict[str, Any], watermark: int, now) -> None:  # type: ignore[no-untyped-def]
    """Lock the member, merge the new figures into qc, and pause them when a rule they were not cleared of is
    broken. Attention checks are acted on when answered (Prolific's rule), not here."""
    with transaction.atomic():
        member = CampaignMember.objects.select_for_update().get(pk=member_id)
        qc = {**(member.qc or {}), **figures, "watermark": watermark, "updated_at": now.isoformat()}
        qc["gold"] = {"answered": member.gold_answered, "correct": member.gold_correct,
                      "accuracy": member.gold_correct / member.gold_answered if member.gold_answered else None}
        qc["attention"] = {"answered": member.attention_answered, "failed": member.attention_failed}
        qc["too_fast"] = {"count": member.too_fast_count,
                          "share": member.too_fast_count / member.judgments_count if member.judgments_count else None}
        qc["flags"] = member_flags(member, qc)
        CampaignMember.objects.filter(pk=member.pk).update(qc=qc)
        member.qc = qc
        cleared = set(qc.get("cleared", []))
        acting = [flag for flag in qc["flags"] if flag["rule"] not in cleared and flag["rule"] != "attention"]
        if acting and member.state == CampaignMember.State.ACTIVE:
            reason = "quality control: " + "; ".join(flag["evidence"] for flag in acting)
            member_set_state(member=member, state=CampaignMember.State.PAUSED, reason=reason)


def running_campaigns_quality_update() -> int:
    """The periodic task's work: recompute the figures of running campaigns that have judgments newer than the
    last computation. Returns the number of campaigns updated."""
    updated = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.RUNNING):
        # the judgments a computation reads (see campaign_quality_update), so its watermark can catch up with them
        counted = Judgment.objects.filter(campaign=campaign, retraction__isnull=True, is_quality_check=False)
        latest = counted.order_by("-id").values_list("id", flat=True).first()
        if latest is None:
            continue
        member_figures = CampaignMember.objects.filter(campaign=campaign).values_list("qc", flat=True)
        computed = min(((qc or {}).get("watermark", 0) for qc in member_figures), default=0)
        if latest > computed:
            campaign_quality_update(campaign=campaign)
            updated += 1
    return updated


# --- the "recompute now" job --------------------------------------------------------------------------------------

QUALITY_JOB_KIND = "labeling.quality_update"


def quality_update_start(*, campaign: Campaign, created_by) -> Job:  # type: ignore[no-untyped-def]
    """A researcher asks for fresh figures now (the periodic task would do it within minutes): a job recomputes
    the campaign's quality figures and refreshes its disagreement queue. A second request while one runs joins it."""
    return job_create(
        kind=QUALITY_JOB_KIND,
        params={"campaign_id": campaign.pk},
        created_by=created_by,
        title=f"Quality figures of “{campaign.name}”",
        dedupe_key=f"{QUALITY_JOB_KIND}:{campaign.pk}",
    )


def quality_update_job_handler(context: JobContext) -> dict[str, Any]:
    from labeling.services.adjudication import adjudications_queue_refresh

    campaign = Campaign.objects.get(pk=context.params["campaign_id"])
    context.report(0.05, "Recomputing every annotator's quality figures")
    members = campaign_quality_update(campaign=campaign)
    context.report(0.7, "Looking for contested pairs")
    queued = adjudications_queue_refresh(campaign=campaign)
    by_state = CampaignMember.objects.filter(campaign=campaign).values("state").annotate(n=Count("id"))
    states = dict(by_state.values_list("state", "n"))
    return {"members": members, "paused": states.get("paused", 0), "removed": states.get("removed", 0),
            "contested_pairs_queued": queued}
