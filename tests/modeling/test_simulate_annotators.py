"""Simulated annotators: the truth file, the answer model, and `manage.py simulate_annotators` driving a live server
through the real HTTP API (3 bots on a 12-text campaign)."""

import json
import random
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from labeling.models import Judgment
from modeling.simulation.annotators import AnswerModel, SimulationPlan, TruthFileError, truth_key, truth_load
from tests.factories.labeling import running_campaign, value_with_pool

DEMO_CORPUS = Path(__file__).resolve().parents[2] / "labeling" / "data" / "demo_corpus"

# --- the truth file -------------------------------------------------------------------------------------------------


def test_the_demo_corpus_is_a_truth_file():
    truth = truth_load(DEMO_CORPUS / "svt.jsonl")
    first = json.loads((DEMO_CORPUS / "svt.jsonl").read_text().splitlines()[0])
    assert len(truth) == 288
    assert truth[truth_key(first["text"])] == first["intensity"]


def test_a_csv_truth_file_matches_texts_whatever_their_whitespace(tmp_path):
    path = tmp_path / "truth.csv"
    path.write_text('text,intensity\n"Helping  a neighbour\nmove house.",7.5\nIgnoring a call for help.,-6\n')
    truth = truth_load(path)
    assert truth == {"Helping a neighbour move house.": 7.5, "Ignoring a call for help.": -6.0}


def test_a_bad_truth_file_is_rejected_with_every_problem_and_its_line(tmp_path):
    path = tmp_path / "truth.csv"
    path.write_text("text,intensity\nA,3\n,4\nB,strong\nC,12\nA,5\n")
    with pytest.raises(TruthFileError) as error:
        truth_load(path)
    lines = str(error.value).splitlines()
    assert lines == [
        "truth.csv:3: `text` is missing or empty.",
        "truth.csv:4: `intensity` 'strong' is not a number.",
        "truth.csv:5: `intensity` 12 is outside [−10, 10].",
        "truth.csv:6: the same text is on line 2 with intensity 3, here with 5; a text has one true intensity.",
    ]


def test_a_truth_file_without_the_columns_says_which_are_missing(tmp_path):
    path = tmp_path / "truth.csv"
    path.write_text("content,score\nA,3\n")
    with pytest.raises(TruthFileError, match="missing: text, intensity"):
        truth_load(path)


# --- the answer model -----------------------------------------------------------------------------------------------


def _answers(model, truths, *, protocol="pairwise", allow_ties=False, n=2000, seed=0):
    rng = random.Random(seed)
    ids = list(range(1, len(truths) + 1))
    return [
        model.answer(item_ids=ids, truths=truths, protocol=protocol, allow_ties=allow_ties, rng=rng) for _ in range(n)
    ]


def test_without_noise_a_bot_orders_by_the_truth():
    answers = _answers(AnswerModel(noise=0), [-2.0, 8.0, 3.0], protocol="listwise", n=5)
    assert all(answer.ordering == [[2], [3], [1]] for answer in answers)


def test_with_noise_a_pair_is_won_as_often_as_plackett_luce_says():
    # truth difference 2.5 at scale 2.5 = one logit: the stronger text wins with probability logistic(1) ≈ 0.731
    answers = _answers(AnswerModel(noise=1.0, scale=2.5), [0.0, 2.5], n=4000)
    share = sum(answer.ordering[0] == [2] for answer in answers) / len(answers)
    assert 0.70 < share < 0.76


def test_ties_only_where_the_campaign_allows_them():
    model = AnswerModel(noise=0, tie_epsilon=0.5)
    assert _answers(model, [1.0, 1.0], allow_ties=True, n=1)[0].ordering == [[1, 2]]
    assert _answers(model, [1.0, 1.0], allow_ties=False, n=1)[0].ordering in ([[1], [2]], [[2], [1]])


def test_a_spammer_ignores_the_texts():
    answers = _answers(AnswerModel(noise=0, spammer=True), [-9.0, 9.0])
    share = sum(answer.ordering[0] == [2] for answer in answers) / len(answers)
    assert 0.45 < share < 0.55


def test_side_bias_shifts_the_first_text_shown_to_the_top():
    unbiased = _answers(AnswerModel(noise=0), [-5.0, 5.0])
    biased = _answers(AnswerModel(noise=0, side_bias=0.3), [-5.0, 5.0])
    assert sum(a.ordering[0] == [1] for a in unbiased) == 0
    assert 0.26 < sum(a.ordering[0] == [1] for a in biased) / len(biased) < 0.34


def test_a_best_worst_answer_names_best_and_worst():
    answer = _answers(AnswerModel(noise=0), [1.0, -7.0, 9.0, 4.0], protocol="best_worst", n=1)[0]
    assert (answer.kind, answer.ordering) == ("best_worst", [[3], [1, 4], [2]])


def test_the_answer_model_rejects_settings_that_mean_nothing():
    with pytest.raises(ValueError, match="side_bias is a probability"):
        AnswerModel(side_bias=1.5)
    with pytest.raises(ValueError, match="scale must be a positive number"):
        AnswerModel(scale=0)


def test_a_plan_rejects_a_negative_reading_time():
    with pytest.raises(ValueError, match="think_ms must be zero or positive"):
        SimulationPlan(base_url="http://127.0.0.1:1", campaign_id=1, accounts=[("bot", "pw")], truth={}, think_ms=-1)


# --- the command against a live server -----------------------------------------------------------------------------


@pytest.fixture
def twelve_text_campaign(researcher, tmp_path):
    value = value_with_pool(n_items=12)
    campaign = running_campaign(values=[value], created_by=researcher, judgments_per_item=50)
    truth = tmp_path / "truth.csv"
    rows = [f"Text {i} about {value.key}.,{i - 5.5}" for i in range(12)]  # distinct truths −5.5 … 5.5
    truth.write_text("text,intensity\n" + "\n".join(rows) + "\n")
    return campaign, truth


def _simulate(live_server, campaign, truth, *extra):
    out = StringIO()
    call_command(
        "simulate_annotators", "--campaign", str(campaign.pk), "--truth", str(truth), "--bots", "3",
        "--judgments-per-bot", "6", "--base-url", live_server.url, "--create-users", "--seed", "1", *extra,
        stdout=out, stderr=StringIO(),
    )
    return json.loads(out.getvalue())


def _stored_behaviour(campaign, truth_path):
    truth = truth_load(truth_path)
    judgments = list(Judgment.objects.filter(campaign=campaign).select_related("assignment"))
    contents = dict(campaign.items.values_list("pool_item_id", "pool_item__text__content"))
    agree = sum(
        truth[truth_key(contents[j.ordering[0][0]])] > truth[truth_key(contents[j.ordering[1][0]])] for j in judgments
    )
    first_on_top = sum(j.ordering[0] == [j.shown_order[0]] for j in judgments)
    return len(judgments), agree / len(judgments), first_on_top / len(judgments)


@pytest.mark.django_db(transaction=True)
def test_bots_judge_through_the_api_and_every_judgment_they_report_is_stored(live_server, twelve_text_campaign):
    campaign, truth = twelve_text_campaign
    summary = _simulate(live_server, campaign, truth, "--noise", "0", "--spam", "0")
    assert summary["bots"] == 3 and summary["errors"] == 0, summary
    assert summary["judgments"] == 18 == Judgment.objects.filter(campaign=campaign).count()
    assert set(Judgment.objects.filter(campaign=campaign).values_list("annotator__username", flat=True)) == {
        "sim-bot-1", "sim-bot-2", "sim-bot-3"
    }
    assert summary["judgments_per_s"] > 0 and summary["stop_reasons"] == {"quota": 3}
    _, agreement, _ = _stored_behaviour(campaign, truth)
    assert agreement == 1.0  # noise 0, no spammers: every answer follows the truth


@pytest.mark.django_db(transaction=True)
def test_spammers_answer_against_the_truth_about_half_the_time(live_server, twelve_text_campaign):
    campaign, truth = twelve_text_campaign
    summary = _simulate(live_server, campaign, truth, "--noise", "0", "--spam", "1")
    assert summary["spammers"] == 3 and summary["judgments"] == 18
    _, agreement, _ = _stored_behaviour(campaign, truth)
    assert agreement < 0.9  # all 18 random answers agreeing with the truth has probability 2⁻¹⁸


@pytest.mark.django_db(transaction=True)
def test_side_bias_puts_the_left_text_on_top(live_server, twelve_text_campaign):
    campaign, truth = twelve_text_campaign
    summary = _simulate(live_server, campaign, truth, "--noise", "0", "--spam", "0", "--side-bias", "1")
    _, _, first_on_top = _stored_behaviour(campaign, truth)
    assert first_on_top == 1.0 == summary["first_shown_on_top"]


@pytest.mark.django_db(transaction=True)
def test_the_report_refits_and_compares_with_the_truth(live_server, twelve_text_campaign):
    campaign, truth = twelve_text_campaign
    summary = _simulate(live_server, campaign, truth, "--noise", "0", "--spam", "0", "--report", "--report-wait", "0")
    report = summary["report"]
    assert report["refit"] == "in_process"  # no refit worker runs in the tests
    assert report["items"] == 12 and report["judged_items"] > 6
    assert report["spearman"] > 0.5


@pytest.mark.django_db
def test_texts_missing_from_the_truth_file_are_named_before_any_bot_starts(twelve_text_campaign, tmp_path):
    campaign, _ = twelve_text_campaign
    truth = tmp_path / "partial.csv"
    truth.write_text("text,intensity\nSomething else entirely.,1\n")
    with pytest.raises(CommandError, match="12 texts of campaign .* are not in the truth file"):
        call_command("simulate_annotators", "--campaign", str(campaign.pk), "--truth", str(truth), "--bots", "1")


@pytest.mark.django_db
def test_bot_accounts_must_exist_unless_asked_to_create_them(twelve_text_campaign):
    campaign, truth = twelve_text_campaign
    with pytest.raises(CommandError, match="2 bot accounts do not exist .*pass --create-users"):
        call_command("simulate_annotators", "--campaign", str(campaign.pk), "--truth", str(truth), "--bots", "2")
