"""A steering evaluation launched from the UI in headless Chromium: an admin fills in the one form (the plan updates
as fields change), saves the draft, sees the plan with the number of generations and judge calls, launches it,
watches the progress bar, and the page turns into the report with a dose–response plot. The run uses a tiny local
model and the HiVES judge on a tiny encoder — both parts of the product — so it takes seconds."""

from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, expect

from accounts.models import User
from common.services import job_run
from modeling.ml.llm.tiny import TINY_MODEL_ID
from modeling.models import SteeredResponse, SteeringEvaluation
from modeling.services.backends import backend_create
from tests.browser.test_shell import log_in_by_keyboard
from tests.modeling.evaluation_helpers import hives_judge_ready, publish_prior_fit, scored_value, small_query_set
from tests.modeling.hives_helpers import tiny_model_dir

pytestmark = [pytest.mark.browser, pytest.mark.slow]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("tiny-encoder"))


def test_an_admin_launches_an_evaluation_and_reaches_its_report(
    live_server, desktop_page: Page, role_users, tiny_encoder, tmp_path, settings, screenshot_dir
):
    settings.VALUEFLOW_HIVES_MAX_LENGTH = 32
    value = scored_value(tmp_path)
    publish_prior_fit(value)
    hives_judge_ready(tiny_encoder)
    backend = backend_create(
        name="Tiny local model", kind="local", model=TINY_MODEL_ID, generation={"max_new_tokens": 12}
    )
    query_set = small_query_set(count=2)

    page = desktop_page
    log_in_by_keyboard(page, live_server.url, role_users[User.Role.ADMIN].username)
    page.goto(f"{live_server.url}/modeling/evaluations/new/")
    page.fill("#id_name", "Tiny persona run")
    page.check(f"input[name=backends][value='{backend.pk}']")
    page.select_option("#id_values", str(value.pk))
    page.select_option("#id_query_set", str(query_set.pk))
    page.select_option("#id_judge", "hives")
    # the plan follows the form: 2 queries × (baseline + 5 levels) generations, each response judged in 3 windows
    expect(page.get_by_test_id("plan-generations")).to_have_text("12")
    expect(page.get_by_test_id("plan-judge-calls")).to_have_text("36")
    page.screenshot(path=str(screenshot_dir / "evaluation-form.png"), full_page=True)
    page.get_by_test_id("evaluation-save").click()

    expect(page.get_by_test_id("evaluation-status")).to_have_text("Draft")
    expect(page.get_by_test_id("plan-generations")).to_have_text("12")
    page.get_by_test_id("evaluation-launch").click()
    expect(page.get_by_test_id("evaluation-status")).to_have_text("Running")
    expect(page.locator(".job-progress progress")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "evaluation-running.png"), full_page=True)

    evaluation = SteeringEvaluation.objects.get()
    assert evaluation.job_id is not None
    assert job_run(job_id=evaluation.job_id).status == "succeeded"  # this test process is the worker

    expect(page.get_by_test_id("evaluation-status")).to_have_text("Finished", timeout=15_000)
    report = page.get_by_test_id("evaluation-report")
    expect(report.get_by_test_id("dose-response")).to_have_count(1)
    # 3 windows per response; the tiny random model now and then samples an empty answer, which is not judged
    answered = SteeredResponse.objects.filter(evaluation=evaluation).exclude(response="").count()
    assert answered >= 10
    expect(report.get_by_test_id("windows-judged")).to_contain_text(f"{3 * answered} (0 unreadable")
    expect(report.get_by_test_id("export-scores")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "evaluation-report.png"), full_page=True)
