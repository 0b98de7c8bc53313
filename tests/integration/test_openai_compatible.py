"""The OpenAI-compatible client over real HTTP, against the loopback server wrapping a tiny local model: answers,
order and concurrency, the API key from the environment, and the failure policy — timeouts and unreadable answers
are retried then reported clearly, 5xx is retried, 4xx is not."""

import json
import os
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack

import pytest
import torch

from modeling.ml.llm.backends import (
    BackendError,
    BackendHTTPError,
    BackendResponseError,
    BackendTimeout,
    LocalTransformersBackend,
    OpenAICompatibleBackend,
)
from modeling.ml.llm.server import ChatCompletionHandler, serve_backend
from modeling.ml.llm.tiny import tiny_chat_model

torch.set_num_threads(1)
KEY_VARIABLE = "VALUEFLOW_TEST_ENDPOINT_KEY"
SECRET = "test-secret-4242"


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.fixture(scope="module")
def local() -> LocalTransformersBackend:
    model, tokenizer = tiny_chat_model(seed=1)
    return LocalTransformersBackend.from_loaded(model, tokenizer, name="tiny")


class CountingHandler(ChatCompletionHandler):
    """Counts the chat requests that reach the server (to tell retried from not retried)."""

    def answer(self, request):
        with self.server.count_lock:
            self.server.requests += 1
        return super().answer(request)


class MalformedHandler(CountingHandler):
    def answer(self, request):
        super().answer(request)
        return 200, None

    def send_json(self, status, body):
        if body is None:
            self.send_raw(200, b'{"choices": [{"message": {"content": "cut off')
        else:
            super().send_json(status, body)


class FlakyHandler(CountingHandler):
    """503 on the first request, then normal answers."""

    def answer(self, request):
        status, body = super().answer(request)
        if self.server.requests == 1:
            return 503, {"error": {"message": "overloaded, try again"}}
        return status, body


class SlowBackend:
    """Wraps a backend, answering only after `delay_s` and recording how many calls overlap."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner, self.delay_s, self.name = inner, delay_s, "slow"
        self.in_flight = self.most_in_flight = self.calls = 0
        self.lock = threading.Lock()

    def chat(self, conversations, *, temperature=1.0, max_new_tokens=160, seed=None):
        with self.lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            return self.inner.chat(conversations, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
        finally:
            with self.lock:
                self.in_flight -= 1


def serve(stack: ExitStack, backend, handler=CountingHandler, api_key=None):
    server = stack.enter_context(
        serve_backend(backend, model_name="tiny-chat", api_key=api_key, handler_class=handler)
    )
    # the test's request counter, on the server its handlers share
    server.requests, server.count_lock = 0, threading.Lock()  # type: ignore[attr-defined]
    return server


@pytest.fixture
def running():
    """Start loopback servers for a test; all are shut down when it ends."""
    with ExitStack() as stack:
        yield lambda backend, handler=CountingHandler, api_key=None: serve(stack, backend, handler, api_key)


def client(server, **options) -> OpenAICompatibleBackend:
    options = {"backoff_s": 0.01, "backoff_max_s": 0.05, "max_retries": 2, "timeout_s": 10, **options}
    return OpenAICompatibleBackend(server.base_url, "tiny-chat", name="test endpoint", **options)


def test_answers_over_http_match_the_local_model_in_order(running, local, monkeypatch):
    monkeypatch.setenv(KEY_VARIABLE, SECRET)
    server = running(local, api_key=SECRET)
    remote = client(server, api_key=lambda: os.environ.get(KEY_VARIABLE), max_concurrency=3)
    questions = [ask("Is it fine to lie to spare a friend's feelings?"), ask("hi"), ask("What is a good life?")]
    expected = [local.chat([question], temperature=0.0, max_new_tokens=10)[0] for question in questions]
    assert remote.chat(questions, temperature=0.0, max_new_tokens=10) == expected
    assert server.requests == 3


def test_at_most_max_concurrency_requests_are_in_flight(running, local):
    slow = SlowBackend(local, delay_s=0.15)
    server = running(slow)
    answers = client(server, max_concurrency=2).chat([ask(f"question {i}") for i in range(6)], max_new_tokens=3)
    assert len(answers) == 6
    assert slow.calls == 6 and slow.most_in_flight == 2


def test_a_server_slower_than_the_timeout_is_retried_then_reported(running, local):
    slow = SlowBackend(local, delay_s=1.0)
    server = running(slow)
    started = time.monotonic()
    with pytest.raises(BackendTimeout) as caught:
        client(server, timeout_s=0.3, max_retries=1).chat([ask("Are you there?")], max_new_tokens=3)
    message = str(caught.value)
    assert "Backend 'test endpoint', conversation 0" in message
    assert "no answer within 0.3 s (gave up after 2 attempts)" in message
    assert time.monotonic() - started < 2.0  # two 0.3 s attempts, not two full server delays
    deadline = time.monotonic() + 3
    while slow.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.calls == 2


def test_an_invalid_json_answer_is_retried_then_reported(running, local):
    server = running(local, handler=MalformedHandler)
    with pytest.raises(BackendResponseError) as caught:
        client(server, max_retries=2).chat([ask("hello")], max_new_tokens=3)
    message = str(caught.value)
    assert "the answer is not valid JSON" in message and "it began '{\"choices\"" in message
    assert "gave up after 3 attempts" in message
    assert server.requests == 3


def test_a_5xx_is_retried_and_the_next_answer_used(running, local):
    server = running(local, handler=FlakyHandler)
    answer = client(server).chat([ask("hello")], temperature=0.0, max_new_tokens=5)
    assert answer == local.chat([ask("hello")], temperature=0.0, max_new_tokens=5)
    assert server.requests == 2


def test_a_4xx_is_not_retried_and_the_key_never_appears_in_errors(running, local):
    server = running(local, api_key=SECRET)
    with pytest.raises(BackendHTTPError) as caught:
        client(server, api_key="wrong-key-123", max_retries=3).chat([ask("hello")], max_new_tokens=3)
    assert caught.value.status == 401
    assert "HTTP 401" in str(caught.value) and "Missing or wrong API key" in str(caught.value)
    assert "wrong-key-123" not in str(caught.value) and SECRET not in str(caught.value)
    assert server.requests == 0  # refused before the model ran, and asked only once


def test_server_rejects_bad_requests_with_an_openai_style_error(running, local):
    server = running(local)
    request = urllib.request.Request(
        f"{server.base_url}/chat/completions", data=json.dumps({"model": "tiny-chat", "messages": "hi"}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400
    assert json.loads(caught.value.read()) == {
        "error": {"message": "messages must be a list of {role, content} objects.", "type": "invalid_request_error"}
    }
    with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
        assert json.loads(response.read())["data"][0]["id"] == "tiny-chat"


def test_a_closed_port_fails_after_the_retries_with_the_reason(local):
    with ExitStack() as stack:
        base_url = serve(stack, local).base_url
    # The server has shut down: nothing listens there any more.
    remote = OpenAICompatibleBackend(base_url, "tiny-chat", max_retries=1, backoff_s=0.01, timeout_s=2)
    with pytest.raises(BackendError, match="cannot connect.*gave up after 2 attempts"):
        remote.chat([ask("hello")], max_new_tokens=3)
