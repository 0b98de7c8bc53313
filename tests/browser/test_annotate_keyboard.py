"""The work page in headless Chromium: a whole pairwise session by keyboard alone, a listwise ranking by keys and by
dragging, and the phone layout. Each test checks in the database that what was stored is what was answered."""

import hashlib
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from labeling.models import Assignment, Judgment, JudgmentRetraction, PoolItem, Text, Theory, Value
from tests.conftest import PASSWORD
from tests.factories.labeling import running_campaign

pytestmark = [pytest.mark.browser]

# Texts of realistic length, so the layout is judged on what annotators actually read.
TEXTS = [
    "When my neighbour's basement flooded last spring, I spent two weekends helping him haul out the ruined "
    "furniture. He never asked; I just saw the pile of wet boxes and knew he could not manage on his own.",
    "I keep a small notebook of the birthdays of everyone in my extended family and send each of them a "
    "handwritten card. It takes time, but I want them to know someone is thinking of them.",
    "Honestly, I do not see why I should lend my car to my brother again. He returned it with an empty tank "
    "last time, and I have my own plans this weekend.",
    "Our team lead stayed late every evening during the release so that the junior developers could go home "
    "to their children. She said the deadline was her responsibility, not theirs.",
    "The volunteers at the shelter cook a hot meal every night of the year, including holidays. Most of them "
    "have done it for more than a decade without ever asking for thanks.",
    "I returned the wallet I found on the bus to the address on the driving licence. The owner cried when she "
    "opened the door; it held the last photograph of her late father.",
]


def _value_with_texts(key: str, texts: list[str]) -> Value:
    theory, _ = Theory.objects.get_or_create(key="svt", defaults={"name": "Schwartz's refined theory"})
    value = Value.objects.create(
        theory=theory,
        key=key,
        name=key.title(),
        definition=f"Caring for the welfare of people one is close to ({key}).",
        level=2,
        is_target=True,
    )
    for content in texts:
        text = Text.objects.create(content=content, content_hash=hashlib.sha256(content.encode()).hexdigest())
        PoolItem.objects.create(value=value, text=text)
    return value


def _log_in_by_keyboard(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + reverse("accounts:login"))
    _tab_to(page, "#id_username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(base_url + reverse("home"))


def _log_in(page: Page, base_url: str, username: str) -> None:
    page.goto(base_url + reverse("accounts:login"))
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + reverse("home"))


def _tab_to(page: Page, selector: str, limit: int = 40) -> None:
    """Press Tab until `selector` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"{selector} never got the keyboard focus in {limit} Tab presses")


def _card_assignment(page: Page) -> str:
    return page.get_attribute("#comparison-card", "data-assignment") or ""


def _wait_for_card(page: Page, other_than: str | None = None) -> None:
    """Wait until a card (other than the one for assignment `other_than`) is shown and set up by annotate.js."""
    page.wait_for_function(
        "before => { const c = document.getElementById('comparison-card');"
        " return c && c.dataset.ready === 'true' && (before === null || (c.dataset.assignment || '') !== before); }",
        arg=other_than,
    )


def _press_and_wait_for_next_card(page: Page, key: str) -> None:
    before = _card_assignment(page)
    page.keyboard.press(key)
    _wait_for_card(page, other_than=before)


def _shown_texts(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("#comparison-card .text-body").all_inner_texts()]


@pytest.fixture
def pair_campaign(role_users):
    value = _value_with_texts("benevolence", TEXTS)
    return running_campaign(
        values=[value], created_by=role_users["researcher"], name="Benevolence pairs", judgments_per_item=1
    )


def test_a_whole_pairwise_session_by_keyboard_alone(live_server, desktop_page: Page, role_users, pair_campaign,
                                                   screenshot_dir):
    page, annotator = desktop_page, role_users["annotator"]
    _log_in_by_keyboard(page, live_server.url, annotator.username)
    _tab_to(page, "nav a[href='/annotate/']")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + reverse("labeling:annotate_home"))
    _tab_to(page, "[data-testid=annotate-link]")
    page.keyboard.press("Enter")
    page.wait_for_url(live_server.url + reverse("labeling:annotate", args=[pair_campaign.pk]))
    _wait_for_card(page)
    expect(page.locator("[data-testid=text-card]")).to_have_count(2)
    page.screenshot(path=str(screenshot_dir / "annotate-pair-desktop.png"), full_page=True)

    # The instructions and the value's definition are one key away, and stay open across cards until closed.
    page.keyboard.press("i")
    expect(page.get_by_test_id("value-definition")).to_be_visible()
    page.keyboard.press("?")
    expect(page.locator("#key-help .key-list")).to_be_visible()
    page.screenshot(path=str(screenshot_dir / "annotate-pair-help.png"), full_page=True)
    page.keyboard.press("?")
    expect(page.locator("#key-help .key-list")).to_be_hidden()

    answers = []  # (texts shown, key pressed) in order
    for key in ("1", "2", "t"):
        shown = _shown_texts(page)
        page.wait_for_timeout(150)  # a human takes a moment to read; latency must be measured, not zero
        _press_and_wait_for_next_card(page, key)
        answers.append((shown, key))
    expect(page.get_by_test_id("value-definition")).to_have_count(0)  # no comparison on the completion page
    expect(page.get_by_text("Thank you — all done")).to_be_visible()

    # U takes the last answer back: the same two texts, in the same order, come back.
    _press_and_wait_for_next_card(page, "u")
    assert _shown_texts(page) == answers[-1][0]
    expect(page.get_by_test_id("value-definition")).to_be_visible()  # the panel is still open
    undone_texts, _ = answers.pop()
    page.wait_for_timeout(150)
    _press_and_wait_for_next_card(page, "n")
    answers.append((undone_texts, "n"))

    expect(page.get_by_text("Thank you — all done")).to_be_visible()
    expect(page.get_by_test_id("completion-count")).to_have_text("3")
    page.screenshot(path=str(screenshot_dir / "annotate-pair-done.png"), full_page=True)

    judgments = list(
        Judgment.objects.filter(annotator=annotator, retraction__isnull=True).order_by("id")
    )
    assert JudgmentRetraction.objects.filter(judgment__annotator=annotator).count() == 1
    assert len(judgments) == len(answers) == 3
    text_of = {item.pk: item.text.content for item in PoolItem.objects.select_related("text")}
    for judgment, (shown, key) in zip(judgments, answers, strict=True):
        first, second = judgment.shown_order
        assert [text_of[first], text_of[second]] == shown
        expected = {
            "1": ([[first], [second]], Judgment.Kind.RANKING),
            "2": ([[second], [first]], Judgment.Kind.RANKING),
            "t": ([[first, second]], Judgment.Kind.RANKING),
            "n": ([[first, second]], Judgment.Kind.NEITHER),
        }[key]
        assert (judgment.ordering, judgment.kind) == expected
        assert judgment.latency_ms is not None and 100 <= judgment.latency_ms < 60_000
        assert judgment.client_info["htmx"] is True


@pytest.fixture
def list_campaign(role_users):
    value = _value_with_texts("caring", TEXTS[:4])
    return running_campaign(
        values=[value], created_by=role_users["researcher"], name="Caring lists", protocol="listwise", list_size=4,
        judgments_per_item=1,
    )


def _row_ids(page: Page) -> list[int]:
    return [int(i) for i in page.eval_on_selector_all(".rank-row", "rows => rows.map(r => r.dataset.itemId)")]


def test_a_listwise_ranking_by_keys_with_a_tie(live_server, desktop_page: Page, role_users, list_campaign,
                                              screenshot_dir):
    page, annotator = desktop_page, role_users["annotator"]
    _log_in(page, live_server.url, annotator.username)
    page.goto(live_server.url + reverse("labeling:annotate", args=[list_campaign.pk]))
    _wait_for_card(page)
    a, b, c, d = _row_ids(page)

    page.keyboard.press("ArrowDown")  # focus the first text
    page.keyboard.press("j")  # move it down: b a c d
    page.keyboard.press("ArrowDown")  # focus c
    page.keyboard.press("Shift+ArrowUp")  # move it up: b c a d
    page.keyboard.press("ArrowDown")  # focus a
    page.keyboard.press("=")  # tie a with c
    assert _row_ids(page) == [b, c, a, d]
    expect(page.locator(".rank-row [data-rank-badge]")).to_have_text(["1", "2", "2", "4"])
    expect(page.locator(".rank-row.is-tied")).to_have_count(1)
    page.screenshot(path=str(screenshot_dir / "annotate-list-desktop.png"), full_page=True)

    page.keyboard.press("Enter")
    expect(page.get_by_text("Thank you — all done")).to_be_visible()
    judgment = Judgment.objects.get(annotator=annotator)
    assert judgment.ordering == [[b], [a, c], [d]]
    assert judgment.shown_order == [a, b, c, d]
    assert judgment.latency_ms is not None


def test_a_listwise_text_dragged_with_the_mouse(live_server, desktop_page: Page, role_users, list_campaign):
    page, annotator = desktop_page, role_users["annotator"]
    _log_in(page, live_server.url, annotator.username)
    page.goto(live_server.url + reverse("labeling:annotate", args=[list_campaign.pk]))
    _wait_for_card(page)
    a, b, c, d = _row_ids(page)

    # Bring the whole list into the window, then drag the last text to the top.
    page.eval_on_selector(".rank-list", "list => window.scrollTo(0, list.getBoundingClientRect().top + scrollY - 8)")
    last = page.locator(".rank-row").nth(3).bounding_box()
    first = page.locator(".rank-row").nth(0).bounding_box()
    assert last is not None and first is not None  # both rows are laid out
    page.mouse.move(last["x"] + last["width"] / 2, last["y"] + last["height"] / 2)
    page.mouse.down()
    page.mouse.move(first["x"] + first["width"] / 2, first["y"] + 4, steps=12)
    page.mouse.up()
    assert _row_ids(page) == [d, a, b, c]
    expect(page.locator(".rank-row [data-rank-badge]")).to_have_text(["1", "2", "3", "4"])

    page.get_by_test_id("submit-ranking").click()
    expect(page.get_by_text("Thank you — all done")).to_be_visible()
    assert Judgment.objects.get(annotator=annotator).ordering == [[d], [a], [b], [c]]


def test_on_a_phone_the_two_texts_stack_and_stay_readable(live_server, phone_page: Page, role_users, pair_campaign,
                                                          screenshot_dir):
    page = phone_page
    _log_in(page, live_server.url, role_users["annotator"].username)
    page.goto(live_server.url + reverse("labeling:annotate", args=[pair_campaign.pk]))
    _wait_for_card(page)
    cards = page.locator("[data-testid=text-card]")
    expect(cards).to_have_count(2)
    top, bottom = cards.nth(0).bounding_box(), cards.nth(1).bounding_box()
    assert top is not None and bottom is not None
    assert bottom["y"] >= top["y"] + top["height"] - 1  # stacked, not side by side
    assert top["width"] > 300 and bottom["width"] > 300
    font_size = page.eval_on_selector(".text-body", "el => parseFloat(getComputedStyle(el).fontSize)")
    assert font_size >= 16
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen
    page.screenshot(path=str(screenshot_dir / "annotate-pair-phone.png"), full_page=True)

    # Buttons work as well as keys: a tap on the second text's button stores the answer.
    assignment = _card_assignment(page)
    page.get_by_test_id("answer-2").click()
    page.wait_for_function("before => document.getElementById('comparison-card').dataset.assignment !== before",
                           arg=assignment)
    judgment = Judgment.objects.get()
    assert judgment.ordering == [[judgment.shown_order[1]], [judgment.shown_order[0]]]


def test_an_expired_lease_shows_why_in_the_card_and_enter_gets_the_next_one(live_server, desktop_page: Page,
                                                                           role_users, pair_campaign, screenshot_dir):
    page, annotator = desktop_page, role_users["annotator"]
    _log_in(page, live_server.url, annotator.username)
    page.goto(live_server.url + reverse("labeling:annotate", args=[pair_campaign.pk]))
    _wait_for_card(page)
    Assignment.objects.filter(annotator=annotator).update(expires_at=timezone.now() - timedelta(seconds=1))

    page.keyboard.press("1")  # answered too late: htmx gets a 409 and annotate.js swaps the error card in
    expect(page.get_by_test_id("card-error")).to_contain_text("lease has expired")
    page.screenshot(path=str(screenshot_dir / "annotate-pair-error.png"), full_page=True)
    assert not Judgment.objects.exists()

    page.keyboard.press("Enter")  # the focus sits on "Get the next comparison"
    _wait_for_card(page, other_than="")
    expect(page.locator("[data-testid=text-card]")).to_have_count(2)


@pytest.fixture
def best_worst_campaign(role_users):
    value = _value_with_texts("dependability", TEXTS[:4])
    return running_campaign(
        values=[value], created_by=role_users["researcher"], name="Most and least", protocol="best_worst",
        list_size=4, judgments_per_item=1,
    )


def test_best_and_worst_chosen_by_keys(live_server, desktop_page: Page, role_users, best_worst_campaign,
                                      screenshot_dir):
    page, annotator = desktop_page, role_users["annotator"]
    _log_in(page, live_server.url, annotator.username)
    page.goto(live_server.url + reverse("labeling:annotate", args=[best_worst_campaign.pk]))
    _wait_for_card(page)
    a, b, c, d = (int(i) for i in page.eval_on_selector_all(".bw-row", "rows => rows.map(r => r.dataset.itemId)"))
    for key in ("b", "3", "w", "1"):
        page.keyboard.press(key)
    expect(page.locator("input[name=best]:checked")).to_have_value(str(c))
    expect(page.locator("input[name=worst]:checked")).to_have_value(str(a))
    page.screenshot(path=str(screenshot_dir / "annotate-best-worst.png"), full_page=True)
    page.keyboard.press("Enter")
    expect(page.get_by_text("Thank you — all done")).to_be_visible()
    judgment = Judgment.objects.get(annotator=annotator)
    assert (judgment.kind, judgment.ordering) == (Judgment.Kind.BEST_WORST, [[c], [b, d], [a]])


def test_without_javascript_a_ranking_is_typed_as_numbers(live_server, phone_page_without_javascript: Page,
                                                         role_users, list_campaign, screenshot_dir):
    page, annotator = phone_page_without_javascript, role_users["annotator"]
    _log_in(page, live_server.url, annotator.username)
    page.goto(live_server.url + reverse("labeling:annotate", args=[list_campaign.pk]))
    a, b, c, d = _row_ids(page)
    for item_id, rank in ((a, "2"), (b, "1"), (c, "4"), (d, "2")):  # a and d equally strong
        page.fill(f"input[name=rank_{item_id}]", rank)
    page.screenshot(path=str(screenshot_dir / "annotate-list-no-js-phone.png"), full_page=True)
    page.get_by_test_id("submit-ranking").click()
    expect(page.get_by_text("Thank you — all done")).to_be_visible()
    assert Judgment.objects.get(annotator=annotator).ordering == [[b], [a, d], [c]]
