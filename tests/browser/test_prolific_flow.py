"""A Prolific participant end to end in headless Chromium: arrive by the study URL, take the qualification quiz,
judge every comparison by keyboard (an attention check among them), and land on Prolific's completion page.

The completion page is external: Playwright's route() intercepts the navigation to app.prolific.com, records the
address and answers it locally, so the test never leaves the machine. Chromium does not hand a request that follows
a redirect to route() handlers, so the platform's own 302 (from /crowd/<id>/complete/) is read by a route as well,
checked, and followed as a fresh navigation.
"""

import hashlib
import json
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from playwright.sync_api import Page, Route, expect

from labeling.models import CampaignMember, CrowdSession, Judgment, PoolItem, Text, Theory, Value
from labeling.services.campaigns import QualityControlSettings, campaign_quality_control_update
from labeling.services.crowd import qualification_question_create
from labeling.services.quality import attention_check_create
from tests.factories.labeling import running_campaign

pytestmark = [pytest.mark.browser]

COMPLETION = "https://app.prolific.com/submissions/complete?cc=VF2024"
TEXTS = [
    "When the storm knocked out the power, our neighbours brought their generator over so that my mother's "
    "oxygen machine could keep running through the night.",
    "I told my colleague I would cover her shift so she could be at her son's school play, even though it meant "
    "missing the match I had tickets for.",
    "He keeps every receipt and splits each restaurant bill to the cent, because he does not want to owe anyone "
    "anything, not even his closest friends.",
    "The volunteers at the food bank learned the names of every family that came in, and asked after the "
    "children by name each week.",
    "She sold the old bicycle to a neighbour's kid for a fair price rather than giving it away; business is "
    "business, she said.",
    "After the funeral, his friends took turns cooking dinner for him for a month, without ever making a fuss "
    "about it.",
]


@pytest.fixture
def study(role_users):
    theory, _ = Theory.objects.get_or_create(key="svt", defaults={"name": "Schwartz's refined theory"})
    value = Value.objects.create(
        theory=theory, key="benevolence", name="Benevolence", level=2, is_target=True,
        definition="Caring for the welfare of the people one is close to: family, friends, colleagues, neighbours.",
    )
    for content in TEXTS:
        text = Text.objects.create(content=content, content_hash=hashlib.sha256(content.encode()).hexdigest())
        PoolItem.objects.create(value=value, text=text)
    # six texts, one judgment each: three comparisons, and an attention check on every third
    campaign = running_campaign(values=[value], created_by=role_users["researcher"], name="Benevolence study",
                                judgments_per_item=1, attention_check_every=3)
    attention_check_create(campaign=campaign, prompt="To show you are reading carefully, choose Text 2.",
                           expected_position=1)
    qualification_question_create(
        campaign=campaign, prompt="Which of these expresses benevolence?",
        choices=["Cooking for a grieving friend", "Splitting a bill to the cent"], correct_choice=0,
    )
    qualification_question_create(
        campaign=campaign, prompt="A text that opposes benevolence expresses it …",
        choices=["more than a neutral text", "less than a neutral text"], correct_choice=1,
    )
    settings = replace(
        QualityControlSettings.of(campaign), requires_qualification=True, qualification_pass_score=1.0,
        completion_code="VF2024",
    )
    return campaign_quality_control_update(campaign=campaign, settings=settings)


def _tab_to(page: Page, selector: str, limit: int = 40) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never got the keyboard focus in {limit} Tab presses")


def _card(page: Page) -> str:
    return page.get_attribute("#comparison-card", "data-assignment") or ""


def _wait_for_card(page: Page, other_than: str | None = None) -> None:
    page.wait_for_function(
        "before => { const c = document.getElementById('comparison-card');"
        " return c && c.dataset.ready === 'true' && (before === null || (c.dataset.assignment || '') !== before); }",
        arg=other_than,
    )


def test_a_prolific_participant_from_the_study_link_to_the_completion_page(live_server, desktop_page: Page, study,
                                                                           screenshot_dir):
    page = desktop_page
    completions: list[str] = []
    redirects: list[tuple[int, str]] = []

    def prolific(route: Route) -> None:
        completions.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Prolific: submission complete</h1>")

    def completion_redirect(route: Route) -> None:
        # Chromium does not pass a request that follows a redirect to route() handlers, so the platform's 302
        # is read here and followed as a fresh navigation, which the Prolific route then intercepts.
        response = route.fetch(max_redirects=0)
        location = response.headers.get("location", "")
        redirects.append((response.status, location))
        follow = f"<script>location.replace({json.dumps(location)})</script>"
        route.fulfill(status=200, content_type="text/html", body=follow)

    page.route("https://app.prolific.com/**", prolific)
    page.route("**/crowd/*/complete/", completion_redirect)

    # 1. arrive by the study URL, as Prolific sends participants
    params = {"PROLIFIC_PID": "5f0c8e2a9b1d4c3e2f1a0b9c", "STUDY_ID": "64bb0c11aa", "SESSION_ID": "s-7781"}
    page.goto(f"{live_server.url}{reverse('labeling:crowd_start', args=[study.pk])}?{urlencode(params)}")
    page.wait_for_url(live_server.url + reverse("labeling:crowd_quiz", args=[study.pk]))
    expect(page.get_by_test_id("quiz-definition")).to_contain_text("Caring for the welfare")
    page.screenshot(path=str(screenshot_dir / "prolific-quiz.png"), full_page=True)

    # 2. the quiz by keyboard: Space picks the focused answer, arrows move within a question, Enter submits
    _tab_to(page, "input[type=radio]")
    page.keyboard.press("Space")  # question 1: the first answer
    page.keyboard.press("Tab")  # on to question 2's first answer
    page.keyboard.press("ArrowDown")  # question 2: the second answer
    _tab_to(page, "[data-testid=quiz-submit]")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + reverse("labeling:annotate", args=[study.pk]))
    _wait_for_card(page)

    # 3. every comparison by keyboard; the attention check says which text to choose
    answered = 0
    expected_comparisons = 4  # three pairs and one attention check
    while answered < expected_comparisons:
        check = page.get_by_test_id("attention-instruction")
        key = "2" if check.count() else "1"
        if check.count():
            expect(check).to_contain_text("choose Text 2")
            page.screenshot(path=str(screenshot_dir / "prolific-attention-check.png"), full_page=True)
        page.wait_for_timeout(120)  # a moment to read: the latency is measured in the browser
        before = _card(page)
        page.keyboard.press(key)
        answered += 1
        if answered < expected_comparisons:
            _wait_for_card(page, other_than=before)

    # 4. the last answer sends the participant back to Prolific with the study's completion code
    page.wait_for_url(COMPLETION)
    expect(page.locator("h1")).to_have_text("Prolific: submission complete")
    assert redirects == [(302, COMPLETION)]
    assert completions == [COMPLETION]

    session = CrowdSession.objects.get()
    assert (session.platform, session.participant_id, session.study_id, session.session_id) == (
        "prolific", "5f0c8e2a9b1d4c3e2f1a0b9c", "64bb0c11aa", "s-7781"
    )
    assert session.status == CrowdSession.Status.COMPLETED and session.qualification_passed is True
    participant = session.annotator
    assert participant.username == "prolific-5f0c8e2a9b1d4c3e2f1a0b9c" and not participant.has_usable_password()
    judgments = list(Judgment.objects.filter(annotator=participant).order_by("id"))
    assert len(judgments) == expected_comparisons
    assert [j.is_quality_check for j in judgments] == [False, False, True, False]
    assert all(j.latency_ms is not None and j.latency_ms >= 100 for j in judgments)
    member = CampaignMember.objects.get(campaign=study, annotator=participant)
    assert (member.attention_answered, member.attention_failed, member.state) == (1, 0, CampaignMember.State.ACTIVE)
