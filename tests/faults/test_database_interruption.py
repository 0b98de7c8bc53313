"""PostgreSQL ends connections while annotators work: every client gets a clean, retryable answer (503 with a JSON
body and Retry-After), a retry succeeds, nothing is stored twice or half, and judgments in equal judgments stored.

Why terminate backends instead of restarting PostgreSQL: the PostgreSQL server of the development and CI machines
is shared by every test run on them, and restarting it would break the others. What a restart does to ValueFlow is
end every connection — including in the middle of a transaction — and that is exactly what `pg_terminate_backend`
does to the connections of our test database, and nothing else.
"""

import threading
import time

import psycopg
import pytest
from django.db import connection, connections
from django.test import Client

from accounts.models import User
from accounts.services import user_create
from labeling.models import Assignment, CampaignItem, Judgment
from labeling.services.assignment import assignment_next
from tests.factories.labeling import running_campaign, value_with_pool

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ANNOTATORS = 4
JUDGMENTS_EACH = 12
MAX_TRIES = 50
KILLS = 12
KILL_EVERY_S = 0.4


def terminate_backends_of_the_test_database() -> int:
    """End every session connected to this test database (as a PostgreSQL restart would); returns how many."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname="postgres", user=settings["USER"] or None, password=settings["PASSWORD"] or None,
        host=settings["HOST"] or "127.0.0.1", port=settings["PORT"] or 5432, autocommit=True,
    ) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [settings["NAME"]],
        ).fetchall()
    return len(rows)


def assert_clean_refusal(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 503, response.content[:300]
    assert response["Retry-After"] == "1"
    body = response.json()
    assert body["extra"] == {"retryable": True}
    assert "nothing of this request was stored" in body["message"]


@pytest.fixture
def campaign(researcher):
    value = value_with_pool(n_items=80, value_key="care")
    return running_campaign(values=[value], created_by=researcher, allow_ties=False, judgments_per_item=1000)


def test_a_request_on_a_terminated_connection_is_refused_cleanly_and_the_retry_stores_it_once(campaign, annotator):
    client = Client()
    client.force_login(annotator)
    lease = assignment_next(campaign=campaign, annotator=annotator).assignment
    body = {"ordering": [[item] for item in lease.item_ids], "kind": "ranking"}
    url = f"/api/v1/assignments/{lease.pk}/submit/"

    assert terminate_backends_of_the_test_database() >= 1  # our own connection among them
    refused = client.post(url, body, content_type="application/json")
    assert_clean_refusal(refused)
    assert Judgment.objects.count() == 0
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.OPEN

    stored = client.post(url, body, content_type="application/json")
    assert stored.status_code == 201, stored.content
    again = client.post(url, body, content_type="application/json")  # a client unsure whether it got through
    assert again.status_code == 200 and again.json()["id"] == stored.json()["id"]
    assert Judgment.objects.count() == 1


def test_connections_terminated_again_and_again_during_load_lose_and_duplicate_nothing(campaign):
    annotators = [user_create(username=f"load-{i}", password="x-pass-123456", role=User.Role.ANNOTATOR)
                  for i in range(ANNOTATORS)]
    clients = []
    for annotator in annotators:
        client = Client()
        client.force_login(annotator)
        clients.append(client)
    connections.close_all()  # every thread below opens its own connection

    acknowledged: dict[int, int] = {}  # judgment id → assignment id, as the clients were told
    refusals: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    burst_over = threading.Event()  # the annotators keep working until the last outage: the load must span them
    judged_by: list[int] = []  # judgments each annotator was told were stored

    def call(client: Client, url: str, body: dict) -> dict:
        for _ in range(MAX_TRIES):
            response = client.post(url, body, content_type="application/json")
            if response.status_code == 503:
                assert_clean_refusal(response)
                with lock:
                    refusals.append(1)
                time.sleep(0.02)
                continue
            assert response.status_code in (200, 201), f"{url}: HTTP {response.status_code} {response.content[:300]!r}"
            return response.json()
        raise AssertionError(f"{url}: still refused after {MAX_TRIES} tries")

    def annotate(client: Client) -> None:
        try:
            judged = 0
            while judged < JUDGMENTS_EACH or not burst_over.is_set():
                offered = call(client, f"/api/v1/campaigns/{campaign.pk}/next/", {})
                while offered["assignment"] is None and offered.get("reason") == "busy":
                    time.sleep(0.05)  # every fresh pair is leased to someone else for the moment
                    offered = call(client, f"/api/v1/campaigns/{campaign.pk}/next/", {})
                assignment = offered["assignment"]
                assert assignment is not None, f"no comparison offered: {offered.get('reason')}"
                ordering = [[item["id"]] for item in assignment["items"]]
                judgment = call(client, f"/api/v1/assignments/{assignment['id']}/submit/",
                                {"ordering": ordering, "kind": "ranking"})
                with lock:
                    acknowledged[judgment["id"]] = assignment["id"]
                judged += 1
            with lock:
                judged_by.append(judged)
        except Exception as exc:  # noqa: BLE001 - reported by the main thread
            failures.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()

    def kill_now_and_then() -> None:
        # A burst of outages, like a server restarting a few times; the annotators then finish their work.
        try:
            for _ in range(KILLS):
                if stop.wait(KILL_EVERY_S):
                    return
                terminate_backends_of_the_test_database()
        finally:
            burst_over.set()

    workers = [threading.Thread(target=annotate, args=(client,)) for client in clients]
    killer = threading.Thread(target=kill_now_and_then)
    killer.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    stop.set()
    killer.join()
    connections.close_all()  # this thread's connection was terminated too

    assert failures == []
    assert refusals, "no request met a terminated connection; the test proved nothing"
    # Judgments in == judgments stored, each exactly once, each closing its own lease.
    # every annotator did its quota (and more while the outages lasted); each acknowledged judgment is a distinct one
    assert len(judged_by) == ANNOTATORS and min(judged_by) >= JUDGMENTS_EACH
    assert len(acknowledged) == sum(judged_by)
    stored = dict(Judgment.objects.values_list("id", "assignment_id"))
    assert stored == acknowledged
    assert set(Assignment.objects.filter(pk__in=stored.values()).values_list("status", flat=True)) == {"submitted"}
    # No half-applied submit: the exposure counters agree with the rows exactly.
    items = CampaignItem.objects.filter(campaign=campaign)
    assert sum(items.values_list("judgments_count", flat=True)) == 2 * len(stored)
    open_leases = Assignment.objects.filter(campaign=campaign, status=Assignment.Status.OPEN).count()
    assert sum(items.values_list("in_flight", flat=True)) == 2 * open_leases
