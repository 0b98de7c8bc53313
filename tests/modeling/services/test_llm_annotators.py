"""LLM annotators work a campaign through the same assignment path as people: the prompt carries the instructions,
the value's definition and the texts in the order shown; rankings are parsed leniently; unreadable answers give the
comparison back; the model's judgments are fitted with its own reliability. The backend here is a scripted ranker —
a stand-in for the external model server."""

import random
import re

import pytest

from accounts.models import User
from common.exceptions import ApplicationError
from common.models import Job
from labeling.models import Assignment, CampaignMember, Cohort, Judgment, PoolItem
from labeling.services.campaigns import campaign_instructions_update
from modeling.models import AnnotatorEstimate, ModelBackend
from modeling.selectors import model_annotator_ids
from modeling.services.backends import backend_create
from modeling.services.fits import fit_value
from modeling.services.llm_annotators import (
    LLM_ANNOTATE_JOB_KIND,
    MAX_CONSECUTIVE_FAILURES,
    llm_annotate,
    llm_annotator_start,
    llm_annotator_user,
    parse_ranking,
)
from tests.factories.judgments import judge_through_services
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = pytest.mark.django_db


class ScriptedRanker:
    """Answers like a chat model that ranks the numbered texts by a known truth (text content → intensity)."""

    name = "scripted"

    def __init__(self, truth: dict[str, float], *, style: str = "plain", reverse: bool = False) -> None:
        self.truth, self.style, self.reverse = truth, style, reverse
        self.conversations: list[list[dict[str, str]]] = []

    def chat(self, conversations, *, temperature=1.0, max_new_tokens=160, seed=None):  # type: ignore[no-untyped-def]
        answers = []
        for conversation in conversations:
            self.conversations.append(conversation)
            texts = re.findall(r"Text (\d+):\n(.+?)(?:\n\n|$)", conversation[1]["content"], flags=re.S)
            order = sorted(texts, key=lambda t: self.truth[t[1]], reverse=not self.reverse)
            numbers = [number for number, _ in order]
            if self.style == "chatty":
                answers.append(f"Let me think about the {len(numbers)} texts.\nMy ranking: [{', '.join(numbers)}]")
            elif self.style == "nonsense":
                answers.append("I would rather not rank these.")
            else:
                answers.append(", ".join(numbers))
        return answers


@pytest.fixture
def backend(platform_admin) -> ModelBackend:  # type: ignore[no-untyped-def]
    return backend_create(name="Judge Model 7B", kind="openai", model="judge-7b",
                          endpoint_url="http://127.0.0.1:9/v1", created_by=platform_admin)


def _truth(value) -> dict[str, float]:  # type: ignore[no-untyped-def]
    contents = PoolItem.objects.filter(value=value).order_by("id").values_list("text__content", flat=True)
    return {content: float(index) for index, content in enumerate(contents)}


def test_rankings_are_read_leniently_and_refused_when_they_do_not_name_the_texts():
    assert parse_ranking("2, 1", k=2, allow_ties=False) == [[1], [0]]
    assert parse_ranking("Thinking about text 3...\nFinal answer: [3, 1, 2]", k=3, allow_ties=False) == [[2], [0], [1]]
    assert parse_ranking("2 > 3", k=3, allow_ties=False) == [[1], [2], [0]]  # the one left out is the weakest
    assert parse_ranking("2=3, 1", k=3, allow_ties=True) == [[1, 2], [0]]
    assert parse_ranking("2=3, 1", k=3, allow_ties=False) is None
    assert parse_ranking("1, 1, 2", k=3, allow_ties=False) is None
    assert parse_ranking("4, 1", k=2, allow_ties=False) is None
    assert parse_ranking("No idea.", k=2, allow_ties=False) is None


def test_the_model_judges_through_the_assignment_path_with_the_campaigns_prompt(researcher, backend):
    value = value_with_pool(n_items=8)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False)
    campaign_instructions_update(
        campaign=campaign, text="Judge the value only, not the writing.", updated_by=researcher
    )
    ranker = ScriptedRanker(_truth(value), style="chatty")

    run = llm_annotate(campaign=campaign, backend=backend, chat=ranker, max_judgments=12)

    user = User.objects.get(username="llm-judge-model-7b")
    assert user.role == User.Role.ANNOTATOR and not user.has_usable_password()
    assert (run.judgments, run.unreadable, run.stop_reason) == (12, 0, "max_judgments")
    judgments = list(Judgment.objects.filter(annotator=user).select_related("assignment"))
    assert len(judgments) == 12 and CampaignMember.objects.filter(campaign=campaign, annotator=user).exists()
    truth = dict(PoolItem.objects.filter(value=value).values_list("pk", "text__content"))
    scores = _truth(value)
    for judgment in judgments:
        winner, loser = judgment.ordering[0][0], judgment.ordering[1][0]
        assert scores[truth[winner]] > scores[truth[loser]]
        assert judgment.shown_order == judgment.assignment.item_ids  # stored like anyone's, with the order shown
        assert judgment.client_info["llm_backend"] == "Judge Model 7B"
        assert judgment.client_info["instructions_version"] == 2
    system, prompt = ranker.conversations[0]
    assert "Judge the value only, not the writing." in system["content"]
    assert value.definition in prompt["content"] and "Text 1:" in prompt["content"] and "Text 2:" in prompt["content"]


def test_a_model_that_answers_against_the_crowd_is_fitted_with_a_low_reliability(researcher, backend, annotator):
    value = value_with_pool(n_items=20)
    campaign = running_campaign(values=[value], created_by=researcher, allow_ties=False, judgments_per_item=40)
    scores = _truth(value)
    contents = PoolItem.objects.filter(value=value).values_list("pk", "text__content")
    by_item = {pk: scores[content] for pk, content in contents}
    # a person, by the truth
    judge_through_services(campaign=campaign, annotator=annotator, truth=by_item, n=60, seed=1)
    llm_annotate(campaign=campaign, backend=backend, chat=ScriptedRanker(scores, reverse=True), max_judgments=40,
                 rng=random.Random(2))

    fit = fit_value(value_id=value.pk)

    model = llm_annotator_user(backend=backend)
    estimates = {e.annotator_id: e for e in AnnotatorEstimate.objects.filter(fit=fit)}
    person, llm = estimates[annotator.pk], estimates[model.pk]
    assert llm.n_judgments == 40 and person.n_judgments == 60
    assert llm.reliability + 1.96 * llm.reliability_se < person.reliability - 1.96 * person.reliability_se
    assert llm.consensus_tau < 0 < person.consensus_tau


def test_unreadable_answers_give_the_comparison_back_and_stop_the_run(researcher, backend):
    value = value_with_pool(n_items=6)
    campaign = running_campaign(values=[value], created_by=researcher)

    run = llm_annotate(campaign=campaign, backend=backend, chat=ScriptedRanker(_truth(value), style="nonsense"),
                       max_judgments=20)

    assert run.judgments == 0 and run.unreadable == MAX_CONSECUTIVE_FAILURES
    assert run.stop_reason == f"{MAX_CONSECUTIVE_FAILURES} unreadable answers in a row"
    user = llm_annotator_user(backend=backend)
    assert not Assignment.objects.filter(annotator=user, status=Assignment.Status.OPEN).exists()
    assert Assignment.objects.filter(annotator=user, status=Assignment.Status.RELEASED).count() == run.released


def test_lists_and_best_worst_campaigns_get_answers_of_their_own_shape(researcher, backend):
    listwise_value, bw_value = value_with_pool(n_items=10), value_with_pool(n_items=10)
    lists = running_campaign(values=[listwise_value], created_by=researcher, protocol="listwise", list_size=4)
    best_worst = running_campaign(values=[bw_value], created_by=researcher, protocol="best_worst", list_size=4)

    llm_annotate(campaign=lists, backend=backend, chat=ScriptedRanker(_truth(listwise_value)), max_judgments=3)
    llm_annotate(campaign=best_worst, backend=backend, chat=ScriptedRanker(_truth(bw_value)), max_judgments=3)

    for judgment in Judgment.objects.filter(campaign=lists):
        assert judgment.kind == Judgment.Kind.RANKING and len(judgment.ordering) == 4
    for judgment in Judgment.objects.filter(campaign=best_worst):
        assert judgment.kind == Judgment.Kind.BEST_WORST
        assert [len(group) for group in judgment.ordering] == [1, 2, 1]


def test_adding_a_model_annotator_starts_its_job_or_says_why_not(researcher, backend, platform_admin):
    value = value_with_pool(n_items=6)
    campaign = running_campaign(values=[value], created_by=researcher)

    job = llm_annotator_start(campaign=campaign, backend=backend, max_judgments=50, started_by=platform_admin)
    assert job.kind == LLM_ANNOTATE_JOB_KIND and job.params == {
        "campaign_id": campaign.pk, "backend_id": backend.pk, "max_judgments": 50}
    assert Job.objects.filter(kind=LLM_ANNOTATE_JOB_KIND).count() == 1

    with pytest.raises(ApplicationError, match="max_judgments must be between 1 and 10,000"):
        llm_annotator_start(campaign=campaign, backend=backend, max_judgments=0, started_by=platform_admin)
    cohort = Cohort.objects.create(name="Trained raters")
    cohort.campaigns.add(campaign)
    with pytest.raises(ApplicationError, match="open only to its cohorts; add llm-judge-model-7b"):
        llm_annotator_start(campaign=campaign, backend=backend, max_judgments=5, started_by=platform_admin)
    backend.is_active = False
    backend.save()
    with pytest.raises(ApplicationError, match="switched off"):
        llm_annotator_start(campaign=campaign, backend=backend, max_judgments=5, started_by=platform_admin)


def test_the_backends_account_is_linked_not_guessed_from_a_name(researcher, backend):
    # a person already owns the name the backend's account would get: they keep it, and stay a person
    person = User.objects.create_user(username="llm-judge-model-7b", password="x-pass-123")

    model = llm_annotator_user(backend=backend)

    backend.refresh_from_db()
    assert model.pk != person.pk and model.username == f"llm-judge-model-7b-{backend.pk}"
    assert backend.annotator_account_id == model.pk and llm_annotator_user(backend=backend).pk == model.pk
    assert model_annotator_ids([person.pk, model.pk]) == {model.pk}
