"""The chat backends without a network: conversation checks, URL and answer parsing, and local generation with a
tiny random Llama (batched, left-padded, in order, reproducible)."""

import pytest
import torch

from modeling.ml.llm.backends import (
    BackendResponseError,
    ChatBackend,
    LocalTransformersBackend,
    OpenAICompatibleBackend,
    chat_completions_url,
    parse_chat_completion,
    validate_conversations,
)
from modeling.ml.llm.tiny import tiny_chat_model

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_backend() -> LocalTransformersBackend:
    model, tokenizer = tiny_chat_model(seed=0)
    return LocalTransformersBackend.from_loaded(model, tokenizer, name="tiny", batch_size=2)


def ask(text: str, system: str | None = None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("conversations", "problem"),
    [
        ("hello", "must be a list of conversations"),
        ([[]], "conversation 0 must be a non-empty list"),
        ([ask("hi"), [{"role": "robot", "content": "x"}]], "conversation 1, message 0: role 'robot'"),
        ([[{"role": "user", "content": 3}]], "content must be a string"),
        ([[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]], "must end with a user"),
    ],
)
def test_malformed_conversations_are_refused_with_where_and_why(conversations, problem):
    with pytest.raises(ValueError, match=problem):
        validate_conversations(conversations)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/chat/completions"),
        ("http://127.0.0.1:8000/v1/", "http://127.0.0.1:8000/v1/chat/completions"),
        ("https://api.example.org/openai/v1", "https://api.example.org/openai/v1/chat/completions"),
        ("http://host/v1/chat/completions", "http://host/v1/chat/completions"),
    ],
)
def test_completion_url_accepts_the_usual_base_url_spellings(base_url, expected):
    assert chat_completions_url(base_url) == expected


def test_a_base_url_without_http_is_refused():
    with pytest.raises(ValueError, match="must start with http"):
        OpenAICompatibleBackend("localhost:8000", "m")


def test_parse_reads_the_assistant_text_and_openai_refusals():
    assert parse_chat_completion(b'{"choices": [{"message": {"role": "assistant", "content": " Hi. "}}]}') == "Hi."
    body = b'{"choices": [{"message": {"content": null, "refusal": "I cannot help with that."}}]}'
    assert parse_chat_completion(body) == "I cannot help with that."


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"<html>502 Bad Gateway</html>", "not valid JSON.*began '<html>502"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b'{"choices": []}', "has no choices"),
        (b'{"choices": [{"text": "hi"}]}', "choices\\[0\\] has no message"),
        (b'{"choices": [{"message": {"content": 7}}]}', "content is int, not text"),
    ],
)
def test_unreadable_answers_raise_a_clear_error(raw, problem):
    with pytest.raises(BackendResponseError, match=problem):
        parse_chat_completion(raw, where="test endpoint")


def test_backends_satisfy_the_protocol(tiny_backend):
    assert isinstance(tiny_backend, ChatBackend)
    assert isinstance(OpenAICompatibleBackend("http://127.0.0.1:1", "m"), ChatBackend)


def test_local_backend_renders_the_chat_template(tiny_backend):
    prompt = tiny_backend.render(ask("Is honesty overrated?", system="You value honesty."))
    assert prompt == (
        "<|im_start|>system\nYou value honesty.<|im_end|>\n<|im_start|>user\nIs honesty overrated?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_local_batches_answer_every_conversation_in_order(tiny_backend):
    questions = [ask("Should I lend money to a friend?"), ask("Hi"), ask("What makes a good neighbour, really?")]
    alone = [tiny_backend.chat([question], temperature=0.0, max_new_tokens=12)[0] for question in questions]
    # Three conversations of different lengths with batch_size 2: one padded batch of two, then one alone.
    batched = tiny_backend.chat(questions, temperature=0.0, max_new_tokens=12)
    assert batched == alone


def test_sampling_is_reproducible_with_a_seed_and_varies_without(tiny_backend):
    questions = [ask("Tell me about loyalty."), ask("Tell me about freedom.")]
    first = tiny_backend.chat(questions, temperature=1.0, max_new_tokens=16, seed=7)
    assert tiny_backend.chat(questions, temperature=1.0, max_new_tokens=16, seed=7) == first
    assert tiny_backend.chat(questions, temperature=1.0, max_new_tokens=16, seed=8) != first


def test_answers_stop_at_max_new_tokens(tiny_backend):
    # The tiny tokenizer has one token per byte, and a byte decodes to at most one character.
    answers = tiny_backend.chat([ask("Go on.")] * 2, temperature=1.0, max_new_tokens=5, seed=1)
    assert all(len(answer) <= 5 for answer in answers)
    assert any(len(answer) >= 3 for answer in answers)


def test_a_template_without_a_system_role_gets_the_system_text_in_the_first_user_turn():
    model, tokenizer = tiny_chat_model(seed=0)
    tokenizer.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
        "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}<|im_start|>assistant\n"
    )
    backend = LocalTransformersBackend.from_loaded(model, tokenizer, name="no-system")
    prompt = backend.render(ask("Question?", system="Persona."))
    assert prompt.startswith("<|im_start|>user\nPersona.\n\nQuestion?<|im_end|>")


def test_bad_generation_arguments_are_refused(tiny_backend):
    with pytest.raises(ValueError, match="max_new_tokens must be at least 1"):
        tiny_backend.chat([ask("x")], max_new_tokens=0)
    with pytest.raises(ValueError, match="temperature must be 0 or more"):
        tiny_backend.chat([ask("x")], temperature=-1)


def test_answers_lose_control_characters_that_databases_refuse():
    body = b'{"choices": [{"message": {"content": "  Be kind.\\u0000\\u001b Always.\\n\\tReally. "}}]}'
    assert parse_chat_completion(body) == "Be kind. Always.\n\tReally."
