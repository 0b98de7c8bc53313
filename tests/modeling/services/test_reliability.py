"""Annotator reliability in the live refit and the quality control that acts on a published fit: estimates are
stored per annotator, a spammer loses weight, auto-pause catches a planted bad annotator and spares the honest ones
(and respects a researcher's reinstatement), near-certain pairs become gold, and the agreement metrics reach
Fit.metrics and the snapshot manifest."""

import json

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from accounts.models import User
from accounts.services import user_create
from labeling.models import Assignment, CampaignMember, GoldComparison, Judgment, PoolItem
from labeling.services.quality import campaign_quality_update, member_set_state
from modeling.models import AnnotatorEstimate, Fit, ModelBackend
from modeling.services import reliability as reliability_services
from modeling.services.agreement import fit_metrics_compute
from modeling.services.fits import fit_value
from modeling.services.snapshots import snapshot_create, snapshot_dir
from tests.factories.labeling import running_campaign, value_with_pool
from tests.modeling.reliability_helpers import judge_pairs

pytestmark = pytest.mark.django_db


def _user(name: str) -> User:
    return user_create(username=name, password="x-pass-123", role=User.Role.ANNOTATOR)


def _crowd_rows(  # type: ignore[no-untyped-def]
    value, annotators, *, n: int, kinds: dict[int, str], spread: float = 3.0, seed: int = 0
):
    """(truth by PoolItem id, rows): n random pairs answered by annotators in turn, each by their kind — "honest"
    (Bradley–Terry on the truth), "spammer" (at random) or "adversarial" (against the truth)."""
    rng = np.random.default_rng(seed)
    ids = list(PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True))
    truth = dict(zip(ids, rng.uniform(-spread, spread, size=len(ids)).tolist(), strict=True))
    rows = []
    for index in range(n):
        annotator = annotators[index % len(annotators)]
        a, b = rng.choice(ids, size=2, replace=False)
        p_a = 1.0 / (1.0 + np.exp(truth[b] - truth[a]))
        kind = kinds.get(annotator.pk, "honest")
        a_wins = rng.random() < (0.5 if kind == "spammer" else 1 - p_a if kind == "adversarial" else p_a)
        rows.append((annotator, int(a), int(b)) if a_wins else (annotator, int(b), int(a)))
    return truth, rows


@pytest.fixture
def mixed_crowd(researcher):  # type: ignore[no-untyped-def]
    value = value_with_pool(n_items=30)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False, reliability_threshold=0.5)
    honest = [_user(f"honest{i}") for i in range(4)]
    spammer = _user("spammer")
    truth, rows = _crowd_rows(value, [*honest, spammer], n=1000, kinds={spammer.pk: "spammer"}, seed=1)
    judge_pairs(campaign, value, rows, seed=2)
    return value, campaign, honest, spammer, truth


def test_a_refit_stores_every_annotators_reliability_and_weights_the_spammer_down(mixed_crowd):
    value, _, honest, spammer, _ = mixed_crowd

    fit = fit_value(value_id=value.pk)

    estimates = {e.annotator_id: e for e in AnnotatorEstimate.objects.filter(fit=fit)}
    assert set(estimates) == {u.pk for u in [*honest, spammer]}
    assert all(e.n_judgments == 200 for e in estimates.values())
    bad = estimates[spammer.pk]
    assert bad.reliability + 1.96 * bad.reliability_se < 0.5
    for user in honest:
        good = estimates[user.pk]
        assert good.reliability - 1.96 * good.reliability_se > 0.5
        assert good.consensus_tau > 0.5 and abs(good.side_bias) < 3 * good.side_bias_se + 0.1
    assert abs(bad.consensus_tau) < 0.2
    summary = fit.config["engine"]["reliability"]
    assert summary["n_annotators"] == 5 and summary["n_down_weighted"] == 1 and summary["converged"]


def test_auto_pause_catches_the_planted_spammer_spares_the_honest_and_respects_a_reinstatement(mixed_crowd, researcher):
    value, campaign, honest, spammer, truth = mixed_crowd

    fit_value(value_id=value.pk)

    members = {m.annotator_id: m for m in CampaignMember.objects.filter(campaign=campaign)}
    paused = members[spammer.pk]
    assert paused.state == CampaignMember.State.PAUSED
    assert "reliability" in paused.state_reason and "upper bound" in paused.state_reason
    assert "threshold 0.50" in paused.state_reason
    assert paused.qc["reliability"][value.qualified_key]["flagged"] is True
    assert all(members[user.pk].state == CampaignMember.State.ACTIVE for user in honest)
    fit = Fit.objects.filter(value=value).latest("id")
    assert fit.metrics["auto_pause"]["paused"] == [spammer.pk]

    # a researcher reviews the evidence and reinstates them: the next refit does not pause them again
    member_set_state(member=paused, state=CampaignMember.State.ACTIVE, changed_by=researcher)
    _, more = _crowd_rows(value, [spammer], n=40, kinds={spammer.pk: "spammer"}, seed=3)
    judge_pairs(campaign, value, more, seed=4)
    fit_value(value_id=value.pk)

    paused.refresh_from_db()
    assert paused.state == CampaignMember.State.ACTIVE
    assert "reliability" in paused.qc["cleared"]


def test_the_reliability_flag_survives_labelings_quality_recompute_and_stays_on_the_review_page(
    mixed_crowd, researcher_client
):
    value, campaign, _, spammer, _ = mixed_crowd
    fit_value(value_id=value.pk)

    # labeling's periodic quality pass rebuilds the member's flags from its own figures
    campaign_quality_update(campaign=campaign)

    paused = CampaignMember.objects.get(campaign=campaign, annotator=spammer)
    assert paused.state == CampaignMember.State.PAUSED
    reliability = [flag for flag in paused.qc["flags"] if flag["rule"] == "reliability"]
    assert len(reliability) == 1 and "upper bound" in reliability[0]["evidence"]
    page = researcher_client.get(reverse("labeling:quality_review", args=[campaign.pk]))
    assert page.status_code == 200
    assert "<strong>reliability</strong>: " + escape(reliability[0]["evidence"]) in page.content.decode()


def test_a_campaign_without_a_reliability_threshold_pauses_nobody(researcher):
    value = value_with_pool(n_items=20)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    users = [_user(f"a{i}") for i in range(3)]
    _, rows = _crowd_rows(value, users, n=450, kinds={users[0].pk: "adversarial"}, seed=5)
    judge_pairs(campaign, value, rows)

    fit = fit_value(value_id=value.pk)

    assert not CampaignMember.objects.filter(campaign=campaign, state=CampaignMember.State.PAUSED).exists()
    assert fit.metrics["auto_pause"] == {"paused": [], "campaigns": 0}


def test_near_certain_pairs_with_large_gaps_become_gold_up_to_the_cap(researcher, monkeypatch):
    monkeypatch.setattr(reliability_services, "MAX_PROMOTED_PER_CAMPAIGN", 3)
    value = value_with_pool(n_items=20)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    users = [_user(f"g{i}") for i in range(3)]
    truth, rows = _crowd_rows(value, users, n=1500, kinds={}, spread=5.0, seed=6)
    judge_pairs(campaign, value, rows)

    fit = fit_value(value_id=value.pk)

    gold = list(GoldComparison.objects.filter(campaign=campaign))
    assert len(gold) == 3 and fit.metrics["gold_promotion"]["promoted"] == 3
    for pair in gold:
        assert pair.source == GoldComparison.Source.PROMOTED and pair.is_active
        assert pair.order_probability >= 0.99 and pair.intensity_gap >= 6.0
        assert truth[pair.stronger_id] > truth[pair.weaker_id]
    assert len({item for pair in gold for item in (pair.stronger_id, pair.weaker_id)}) == 6  # no text twice

    # a refit on the same judgments adds none (the cap is full) and keeps the ones it still supports
    fit_value(value_id=value.pk)
    assert GoldComparison.objects.filter(campaign=campaign, is_active=True).count() == 3


def test_a_promoted_pair_the_new_fit_contradicts_is_retired(researcher):
    value = value_with_pool(n_items=12)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    users = [_user(f"r{i}") for i in range(2)]
    truth, rows = _crowd_rows(value, users, n=600, kinds={}, spread=5.0, seed=7)
    judge_pairs(campaign, value, rows)
    weakest, strongest = min(truth, key=truth.get), max(truth, key=truth.get)
    wrong = GoldComparison.objects.create(
        campaign=campaign, value=value, stronger_id=weakest, weaker_id=strongest,
        source=GoldComparison.Source.PROMOTED, intensity_gap=7.0, order_probability=0.995,
    )

    fit = fit_value(value_id=value.pk)

    wrong.refresh_from_db()
    assert wrong.is_active is False and fit.metrics["gold_promotion"]["retired"] == 1


def test_agreement_metrics_reach_the_fit_and_the_snapshot_manifest(researcher):
    value = value_with_pool(n_items=25)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    people = [_user(f"p{i}") for i in range(3)]
    model = _user("llm-judge")
    ModelBackend.objects.create(name="Judge", kind="openai", model="m", annotator_account=model)
    truth, rows = _crowd_rows(value, [*people, model], n=1200, kinds={}, seed=8)
    judge_pairs(campaign, value, rows)
    # one deliberate repeat, answered the same way both times
    original = Judgment.objects.filter(annotator=people[0]).select_related("assignment").first()
    again = Assignment.objects.create(
        campaign=campaign, value=value, annotator=people[0], item_ids=list(reversed(original.assignment.item_ids)),
        comparison_key=original.assignment.comparison_key, is_repeat=True, repeat_of=original.assignment,
        status=Assignment.Status.SUBMITTED, expires_at=timezone.now(),
    )
    Judgment.objects.create(assignment=again, campaign=campaign, value=value, annotator=people[0],
                            ordering=original.ordering, shown_order=again.item_ids)
    fit = fit_value(value_id=value.pk)

    metrics = fit_metrics_compute(fit=fit)

    fit.refresh_from_db()
    assert fit.metrics["split_half"]["reliability"] > 0.8
    assert fit.metrics["consensus_tau"]["annotators"] == 4 and fit.metrics["consensus_tau"]["median"] > 0.5
    assert fit.metrics["intra_annotator"]["repeats"] == 1 and fit.metrics["intra_annotator"]["agreement"] == 1.0
    assert fit.metrics["fragility"]["top"] == 10 and fit.metrics["fragility"]["dropped"] >= 1
    llm = fit.metrics["llm_human"]
    assert set(llm["annotators"]) == {"llm-judge"}
    assert llm["annotators"]["llm-judge"]["agreement"] == pytest.approx(llm["humans_with_their_consensus"], abs=0.1)
    assert "auto_pause" in fit.metrics and metrics["metrics_seconds"] >= 0  # merged, not replaced

    snapshot = snapshot_create(value_ids=[value.pk], name="with metrics", created_by=researcher)
    manifest = json.loads((snapshot_dir(snapshot) / "manifest.json").read_text())
    assert manifest["values"][0]["fit"]["metrics"]["split_half"] == fit.metrics["split_half"]


def test_a_failing_quality_step_never_undoes_the_published_fit(mixed_crowd, monkeypatch):
    value, campaign, _, spammer, _ = mixed_crowd

    def broken(*, fit):  # type: ignore[no-untyped-def]
        raise RuntimeError("gold table locked")

    monkeypatch.setattr(reliability_services, "gold_pairs_promote", broken)
    fit = fit_value(value_id=value.pk)

    fit.refresh_from_db()
    assert fit.status == Fit.Status.SUCCEEDED and fit.value.published_fit.fit_id == fit.pk
    assert fit.metrics["gold_promotion"] == {"error": "failed; see the worker log"}
    assert CampaignMember.objects.get(campaign=campaign, annotator=spammer).state == CampaignMember.State.PAUSED
