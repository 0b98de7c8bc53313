"""Live refits: a fit recovers a known order with honest intervals, publishes atomically and only forward, survives
a failing engine, leaves retracted judgments out, and refit requests are debounced to one job per value."""

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy.stats import spearmanr

from accounts.models import User
from accounts.services import user_create
from common.models import Job
from labeling.fit_data import value_comparisons
from labeling.models import Judgment, JudgmentRetraction, PoolItem
from labeling.services.judgments import judgment_undo
from modeling.models import Fit, ItemScore, PublishedFit
from modeling.services import fits as fit_services
from modeling.services.fits import (
    FIT_JOB_KIND,
    PRIOR_STRENGTH,
    fit_publish,
    fit_value,
    refit_dedupe_key,
    refit_now,
    refit_request,
    refits_catch_up,
)
from tests.factories.judgments import judge_through_services, judgments_bulk_create, simulated_pairs
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(db) -> list[User]:
    return [user_create(username=f"crowd{i}", password="x-pass-123", role=User.Role.ANNOTATOR) for i in range(4)]


def _simulated_value(researcher, crowd, *, n_items: int = 20, n_judgments: int = 400, seed: int = 1):
    value = value_with_pool(n_items=n_items)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    truth, orderings = simulated_pairs(value=value, n=n_judgments, seed=seed)
    ids = judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings)
    return value, campaign, truth, ids


def test_a_fit_on_simulated_judgments_recovers_the_true_order_and_publishes_it(researcher, crowd):
    value, _, truth, judgment_ids = _simulated_value(researcher, crowd)

    fit = fit_value(value_id=value.pk)

    assert fit.status == Fit.Status.SUCCEEDED
    assert fit.watermark == max(judgment_ids)
    assert (fit.n_items, fit.n_judgments) == (20, 400)
    assert fit.backend == "choix"  # strict pairs, 20 items: the reference backend
    assert fit.converged and fit.log_likelihood < 0
    assert PublishedFit.objects.get(value=value).fit_id == fit.pk
    items = list(PoolItem.objects.filter(value=value).order_by("id"))
    assert all(item.published_fit_id == fit.pk for item in items)
    rho = spearmanr([truth[item.pk] for item in items], [item.intensity for item in items]).statistic
    assert rho > 0.8
    for item in items:
        assert -10 <= item.ci_low <= item.intensity <= item.ci_high <= 10
        assert item.utility_se > 0
    assert ItemScore.objects.filter(fit=fit).count() == 20
    assert fit.config["summary"]["median_ci_width"] > 0
    assert fit.scale["method"] == "quantiles"


def test_imported_ratings_anchor_the_scale_without_fixing_utilities(researcher, crowd):
    value, _, truth, _ = _simulated_value(researcher, crowd)
    # Imported ratings that agree with the truth: 2 intensity points per logit.
    for item in PoolItem.objects.filter(value=value):
        item.prior_intensity = float(np.clip(2 * truth[item.pk], -10, 10))
        item.save(update_fields=["prior_intensity"])

    fit = fit_value(value_id=value.pk)

    assert fit.scale["method"] == "anchors" and fit.scale["n_anchors"] == 20
    scores = {s.pool_item_id: s for s in ItemScore.objects.filter(fit=fit)}
    # The utilities come from the judgments, not from the ratings...
    assert not np.allclose([scores[i].utility for i in truth], [truth[i] for i in truth])
    # ...and the map puts them back on the ratings' scale.
    errors = [abs(scores[i].intensity - np.clip(2 * truth[i], -10, 10)) for i in truth]
    assert np.median(errors) < 2.0


def test_an_item_without_judgments_is_scored_from_the_prior_alone(researcher, crowd):
    value, campaign, _, _ = _simulated_value(researcher, crowd, n_items=12, n_judgments=150)
    newcomer = PoolItem.objects.create(value=value, text_id=_fresh_text_id())

    fit = fit_value(value_id=value.pk)

    score = ItemScore.objects.get(fit=fit, pool_item_id=newcomer.pk)
    assert score.n_judgments == 0
    assert score.utility == pytest.approx(0.0, abs=1e-9)
    # one virtual win and one loss of weight PRIOR_STRENGTH against the phantom: information 0.5 × strength
    assert score.se == pytest.approx(np.sqrt(2.0 / PRIOR_STRENGTH), rel=1e-3)
    judged = ItemScore.objects.filter(fit=fit).exclude(pool_item_id=newcomer.pk)
    assert all(s.n_judgments > 0 and s.se < score.se for s in judged)
    assert fit.config["summary"]["n_unjudged_items"] == 1


def _fresh_text_id() -> int:
    from labeling.models import Text

    return Text.objects.create(content="A text nobody has judged.", content_hash="f" * 64).pk


def test_retracted_judgments_are_left_out(researcher, annotator):
    value = value_with_pool(n_items=6)
    campaign = running_campaign(values=[value], created_by=researcher, judgments_per_item=50)
    truth = {item.pk: float(i) for i, item in enumerate(PoolItem.objects.filter(value=value).order_by("id"))}
    judgments = judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=8)
    judgment_undo(judgment_id=judgments[-1].pk, annotator=annotator)

    data = value_comparisons(value_id=value.pk)
    fit = fit_value(value_id=value.pk)

    assert data.n_judgments == 7 == fit.n_judgments
    assert fit.watermark == judgments[-1].pk  # the watermark covers the retracted one: it was read and skipped
    assert JudgmentRetraction.objects.filter(judgment=judgments[-1]).exists()


def test_neither_answers_enter_as_half_weight_ties_and_best_worst_as_tuples(researcher, crowd):
    value = value_with_pool(n_items=6)
    items = list(PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True))
    pairs = running_campaign(values=[value], created_by=researcher, name="pairs")
    best_worst = running_campaign(values=[value], created_by=researcher, name="bw", protocol="best_worst", list_size=4)
    judgments_bulk_create(
        campaign=pairs, value=value, annotators=crowd,
        orderings=[[[items[0]], [items[1]]], [[items[2], items[3]]]],
        kinds=[Judgment.Kind.RANKING, Judgment.Kind.NEITHER],
    )
    judgments_bulk_create(
        campaign=best_worst, value=value, annotators=crowd,
        orderings=[[[items[0]], [items[1], items[2]], [items[5]]]], kinds=[Judgment.Kind.BEST_WORST],
    )

    data = value_comparisons(value_id=value.pk)

    assert (data.pair_first.tolist(), data.pair_second.tolist()) == ([0, 2], [1, 3])
    assert data.pair_tied.tolist() == [False, True]
    assert data.pair_weights.tolist() == [1.0, 0.5]
    assert data.pair_ties_allowed.tolist() == [True, True]  # the pair campaign offers a tie
    assert data.orderings == []
    assert data.best_worst == [(0, 5, (0, 1, 2, 5))]
    assert data.item_judgment_counts.tolist() == [2, 2, 2, 1, 0, 1]

    fit = fit_value(value_id=value.pk)
    assert fit.backend == "lbfgs"  # ties and best–worst need the exact likelihood
    scores = {s.pool_item_id: s.utility for s in ItemScore.objects.filter(fit=fit)}
    assert scores[items[0]] > scores[items[5]]


def test_lists_keep_their_tied_groups_and_judgments_of_removed_texts_are_dropped(researcher, crowd):
    value = value_with_pool(n_items=6)
    items = list(PoolItem.objects.filter(value=value).order_by("id").values_list("id", flat=True))
    lists = running_campaign(values=[value], created_by=researcher, protocol="listwise", list_size=4)
    pairs = running_campaign(values=[value], created_by=researcher, name="strict pairs", allow_ties=False)
    judgments_bulk_create(
        campaign=lists, value=value, annotators=crowd,
        orderings=[[[items[0]], [items[1], items[2]], [items[3]]], [[items[5]], [items[4]], [items[3]], [items[0]]]],
    )
    judgments_bulk_create(
        campaign=pairs, value=value, annotators=crowd, orderings=[[[items[4]], [items[5]]], [[items[5]], [items[1]]]]
    )
    PoolItem.objects.filter(pk=items[5]).delete()  # a text withdrawn after it was judged

    data = value_comparisons(value_id=value.pk)

    assert data.n_items == 5 and data.n_judgments == 4
    # The second list loses its removed text and keeps the order of the rest; the pair with it is dropped.
    assert data.orderings == [((0,), (1, 2), (3,)), ((4,), (3,), (0,))]
    assert data.max_tie_sizes.tolist() == [4, 4]
    assert (data.pair_first.tolist(), data.pair_second.tolist(), data.pair_ties_allowed.tolist()) == ([], [], [])
    assert data.n_dropped == 2  # both pairs named the removed text
    assert data.item_judgment_counts.tolist() == [2, 1, 1, 2, 1]
    assert fit_value(value_id=value.pk).n_items == 5


def test_an_older_watermark_never_replaces_a_newer_publication(researcher, crowd):
    value, campaign, _, _ = _simulated_value(researcher, crowd, n_items=10, n_judgments=100)
    early = fit_value(value_id=value.pk)
    _, more = simulated_pairs(value=value, n=50, seed=9)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd[:1], orderings=more)
    late = fit_value(value_id=value.pk)
    assert late.watermark > early.watermark
    assert PublishedFit.objects.get(value=value).fit_id == late.pk

    # A slow refit that read the old judgments finishes now: it must not win.
    stale = Fit.objects.create(value=value, status=Fit.Status.SUCCEEDED, watermark=early.watermark, n_items=10)
    ItemScore.objects.bulk_create(
        ItemScore(fit=stale, pool_item_id=s.pool_item_id, utility=0, se=1, intensity=0, ci_low=-1, ci_high=1)
        for s in ItemScore.objects.filter(fit=early)
    )
    assert fit_publish(fit=stale) is False
    assert PublishedFit.objects.get(value=value).fit_id == late.pk
    assert set(PoolItem.objects.filter(value=value).values_list("published_fit_id", flat=True)) == {late.pk}


def test_a_failing_engine_leaves_the_previous_fit_published(researcher, crowd, monkeypatch):
    value, campaign, _, _ = _simulated_value(researcher, crowd, n_items=10, n_judgments=100)
    good = fit_value(value_id=value.pk)
    published_scores = list(PoolItem.objects.filter(value=value).order_by("id").values_list("intensity", flat=True))
    _, more = simulated_pairs(value=value, n=30, seed=5)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=more)

    def broken_fit(*args, **kwargs):
        raise FloatingPointError("the optimiser diverged")

    monkeypatch.setattr("modeling.ml.plackett_luce.fit", broken_fit)
    with pytest.raises(FloatingPointError):
        fit_value(value_id=value.pk)

    failed = Fit.objects.filter(value=value).order_by("-id").first()
    assert failed.status == Fit.Status.FAILED and "diverged" in failed.error
    assert PublishedFit.objects.get(value=value).fit_id == good.pk
    pool = PoolItem.objects.filter(value=value).order_by("id")
    assert list(pool.values_list("intensity", flat=True)) == published_scores
    assert Judgment.objects.filter(value=value).count() == 130  # nothing lost: the next refit reads them all

    monkeypatch.undo()
    assert fit_value(value_id=value.pk).n_judgments == 130


def test_a_crash_while_publishing_rolls_back_the_pointer_and_the_pool(researcher, crowd, monkeypatch):
    value, campaign, _, _ = _simulated_value(researcher, crowd, n_items=10, n_judgments=100)
    good = fit_value(value_id=value.pk)
    before = list(PoolItem.objects.filter(value=value).order_by("id").values_list("intensity", "published_fit_id"))
    _, more = simulated_pairs(value=value, n=30, seed=6)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=more)
    original = fit_services._do_copy_scores_to_pool

    def crash_after_copying(fit):
        original(fit)  # the pointer and the pool are already updated inside the transaction…
        raise ConnectionError("database connection lost")  # …when the connection drops before the commit

    monkeypatch.setattr(fit_services, "_do_copy_scores_to_pool", crash_after_copying)
    with pytest.raises(ConnectionError):
        fit_value(value_id=value.pk)

    assert PublishedFit.objects.get(value=value).fit_id == good.pk
    pool = PoolItem.objects.filter(value=value).order_by("id")
    assert list(pool.values_list("intensity", "published_fit_id")) == before


def test_a_warm_refit_starts_from_the_published_utilities(researcher, crowd, monkeypatch):
    value, campaign, _, _ = _simulated_value(researcher, crowd, n_items=10, n_judgments=120)
    first = fit_value(value_id=value.pk)
    seen = {}
    from modeling.ml import plackett_luce

    real_fit = plackett_luce.fit

    def spy(data, **kwargs):
        # the refit's first engine call; later calls of the reliability alternation start from the previous round
        seen.setdefault("init", kwargs["init"])
        return real_fit(data, **kwargs)

    monkeypatch.setattr("modeling.ml.plackett_luce.fit", spy)
    second = fit_value(value_id=value.pk)

    expected = list(ItemScore.objects.filter(fit=first).order_by("pool_item_id").values_list("utility", flat=True))
    assert np.allclose(seen["init"], expected)
    assert second.warm_started_from_id == first.pk


def test_refit_requests_are_debounced_into_one_job(researcher, crowd, settings, django_capture_on_commit_callbacks):
    settings.VALUEFLOW_REFIT_AFTER_JUDGMENTS = 20
    value = value_with_pool(n_items=8)
    campaign = running_campaign(values=[value], created_by=researcher)
    _, orderings = simulated_pairs(value=value, n=5, seed=2)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings)

    with django_capture_on_commit_callbacks() as callbacks:
        jobs = [refit_request(value_id=value.pk) for _ in range(5)]

    assert len({job.pk for job in jobs}) == 1
    job = jobs[0]
    assert (job.kind, job.queue, job.dedupe_key) == (FIT_JOB_KIND, "refit", refit_dedupe_key(value.pk))
    assert job.params == {"value_id": value.pk}
    assert Job.objects.filter(kind=FIT_JOB_KIND).count() == 1
    assert len(callbacks) == 1  # one message to the worker, sent after the debounce delay


def test_enough_new_judgments_start_the_refit_at_once(researcher, crowd, settings, monkeypatch):
    settings.VALUEFLOW_REFIT_AFTER_JUDGMENTS = 20
    settings.VALUEFLOW_REFIT_AFTER_SECONDS = 10
    countdowns = []
    real_job_create = fit_services.job_create
    monkeypatch.setattr(
        fit_services, "job_create", lambda **kw: countdowns.append(kw["countdown_s"]) or real_job_create(**kw)
    )
    value = value_with_pool(n_items=8)
    campaign = running_campaign(values=[value], created_by=researcher)
    _, orderings = simulated_pairs(value=value, n=25, seed=3)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings[:5])
    refit_request(value_id=value.pk)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings[5:])
    refit_request(value_id=value.pk)

    assert countdowns == [10.0, 0.0]
    assert Job.objects.filter(kind=FIT_JOB_KIND).count() == 1


def test_no_refit_when_the_published_fit_covers_every_judgment(researcher, crowd):
    value, _, _, _ = _simulated_value(researcher, crowd, n_items=8, n_judgments=40)
    fit_value(value_id=value.pk)

    assert refit_request(value_id=value.pk) is None
    assert refits_catch_up() == []


def test_the_catch_up_finds_values_whose_published_fit_misses_judgments(researcher, crowd, annotator):
    behind, campaign, _, _ = _simulated_value(researcher, crowd, n_items=8, n_judgments=40)
    current, _, _, _ = _simulated_value(researcher, crowd, n_items=8, n_judgments=40, seed=4)
    never_fit, _, _, _ = _simulated_value(researcher, crowd, n_items=8, n_judgments=10, seed=5)
    fit_value(value_id=behind.pk)
    fit_value(value_id=current.pk)
    _, more = simulated_pairs(value=behind, n=3, seed=7)
    judgments_bulk_create(campaign=campaign, value=behind, annotators=crowd, orderings=more)

    requested = refits_catch_up()

    assert sorted(requested) == sorted([behind.pk, never_fit.pk])
    assert set(Job.objects.filter(kind=FIT_JOB_KIND).values_list("params__value_id", flat=True)) == set(requested)


def test_the_catch_up_notices_a_retraction(researcher, annotator):
    value = value_with_pool(n_items=6)
    campaign = running_campaign(values=[value], created_by=researcher, judgments_per_item=50)
    truth = {item.pk: float(i) for i, item in enumerate(PoolItem.objects.filter(value=value).order_by("id"))}
    judgments = judge_through_services(campaign=campaign, annotator=annotator, truth=truth, n=4)
    fit_value(value_id=value.pk)
    judgment_undo(judgment_id=judgments[-1].pk, annotator=annotator)

    assert refits_catch_up() == [value.pk]


def test_refit_now_starts_at_once_and_hurries_a_waiting_debounced_job(
    researcher, crowd, django_capture_on_commit_callbacks
):
    value = value_with_pool(n_items=8)
    campaign = running_campaign(values=[value], created_by=researcher)
    _, orderings = simulated_pairs(value=value, n=3, seed=2)
    judgments_bulk_create(campaign=campaign, value=value, annotators=crowd, orderings=orderings)
    waiting = refit_request(value_id=value.pk)

    with django_capture_on_commit_callbacks() as callbacks:
        job = refit_now(value=value, requested_by=researcher)

    assert job.pk == waiting.pk
    assert len(callbacks) == 1  # the waiting job is sent again now; its delayed copy will find it finished


def test_the_fit_job_handler_reports_the_outcome(researcher, crowd):
    from common.services import job_create, job_run

    value, _, _, ids = _simulated_value(researcher, crowd, n_items=8, n_judgments=40)
    job = job_create(kind=FIT_JOB_KIND, params={"value_id": value.pk}, queue="refit")

    job = job_run(job_id=job.pk)

    assert job.status == Job.Status.SUCCEEDED, job.error
    assert job.result["published"] is True
    assert job.result["watermark"] == max(ids)
    assert Fit.objects.get(pk=job.result["fit_id"]).job_id == job.pk


def test_a_refit_of_an_unknown_value_is_refused_clearly():
    from common.exceptions import ApplicationError

    with pytest.raises(ApplicationError, match="no such value"):
        fit_value(value_id=987654)
    with pytest.raises(ApplicationError, match="no such value"):
        refit_request(value_id=987654)


def test_reading_judgments_for_a_fit_costs_a_fixed_number_of_queries(researcher, crowd):
    value, _, _, _ = _simulated_value(researcher, crowd, n_items=10, n_judgments=300)
    with CaptureQueriesContext(connection) as queries:
        data = value_comparisons(value_id=value.pk)
    assert data.n_judgments == 300
    assert len(queries) <= 6


def test_publishing_asks_labeling_to_apply_the_stopping_targets(
    researcher, crowd, django_capture_on_commit_callbacks, monkeypatch
):
    from labeling.tasks import campaign_items_apply_stopping

    sent = []
    monkeypatch.setattr(campaign_items_apply_stopping, "apply_async", lambda **kw: sent.append(kw))
    value, _, _, _ = _simulated_value(researcher, crowd, n_items=8, n_judgments=40)

    with django_capture_on_commit_callbacks(execute=True):
        fit_value(value_id=value.pk)

    assert sent == [{"kwargs": {"value_id": value.pk}}]


def test_an_unreachable_broker_after_publishing_does_not_fail_the_refit(
    researcher, crowd, django_capture_on_commit_callbacks, monkeypatch
):
    from labeling.tasks import campaign_items_apply_stopping

    def broker_down(**kwargs):
        raise ConnectionRefusedError("redis is down")

    monkeypatch.setattr(campaign_items_apply_stopping, "apply_async", broker_down)
    value, _, _, _ = _simulated_value(researcher, crowd, n_items=8, n_judgments=40)

    with django_capture_on_commit_callbacks(execute=True):
        fit = fit_value(value_id=value.pk)

    assert fit.status == Fit.Status.SUCCEEDED
    assert PublishedFit.objects.get(value=value).fit_id == fit.pk
