"""The framework's floor (modeling/simulation/floor.py) against a live server: logged-in clients ask the simplest
authenticated request and every answer is a latency; a client that cannot log in is an error, and neither it nor
the others hang."""

import pytest

from modeling.simulation.floor import FLOOR_PATH, framework_floor
from tests.conftest import PASSWORD


@pytest.mark.django_db(transaction=True)
def test_logged_in_clients_ask_the_floor_request_until_the_time_is_up(live_server, annotator, other_annotator):
    clock_started = []
    result = framework_floor(
        base_url=live_server.url,
        accounts=[(annotator.username, PASSWORD), (other_annotator.username, PASSWORD)],
        seconds=0.5,
        think_ms=5,
        on_clock_start=lambda: clock_started.append(True),
    )
    assert FLOOR_PATH == "/api/v1/me/"
    assert clock_started == [True]
    assert result.clients == 2 and result.errors == 0, result.error_examples
    assert result.requests > 2 and all(ms > 0 for ms in result.latencies_ms)
    assert 0.5 <= result.seconds < 10


@pytest.mark.django_db(transaction=True)
def test_a_client_that_cannot_log_in_is_an_error_and_the_others_still_run(live_server, annotator):
    result = framework_floor(
        base_url=live_server.url,
        accounts=[(annotator.username, PASSWORD), ("nobody", "wrong password")],
        seconds=0.3,
    )
    assert result.errors == 1
    assert "login of 'nobody' failed" in result.error_examples[0]
    assert result.requests > 0  # the logged-in client measured on its own


def test_the_floor_needs_an_account():
    with pytest.raises(ValueError, match="at least one account"):
        framework_floor(base_url="http://127.0.0.1:1", accounts=[], seconds=1)
