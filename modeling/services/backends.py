"""Model backends: create and edit the admin-managed `ModelBackend` rows, turn a row into a working `ChatBackend`,
and test the connection.

Secrets are never stored: a row names the environment variable that holds its API key (`api_key_env`), and the key
is read from `os.environ` when a request is made. Nothing here returns the key; callers may only learn whether the
variable is set (`backend_api_key_is_set`).

Local models are loaded once per worker process and kept (at most LOCAL_BACKENDS_KEPT of them), because loading
costs seconds and every generation batch would otherwise pay it again.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet as DjangoQuerySet

from common.exceptions import ApplicationError
from modeling.ml.llm.backends import BackendError, ChatBackend, LocalTransformersBackend, OpenAICompatibleBackend
from modeling.models import ModelBackend

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Things people paste into an "environment variable name" field by mistake: the secret itself.
LOOKS_LIKE_A_SECRET = re.compile(r"^(sk-|sk_|hf_|gsk_|xai-|AIza|Bearer\b)|^[A-Za-z0-9_\-]{40,}$")

DEFAULT_GENERATION: dict[str, Any] = {"temperature": 1.0, "max_new_tokens": 160}
# Keys a backend's `generation` settings may hold, with their type and allowed range.
GENERATION_KEYS: dict[str, tuple[type, float, float, str]] = {
    "temperature": (float, 0.0, 2.0, "sampling temperature (0 = greedy)"),
    "max_new_tokens": (int, 1, 4096, "longest answer, in tokens"),
    "seed": (int, 0, 2**31 - 1, "base random seed"),
    "batch_size": (int, 1, 256, "conversations per forward pass (local models)"),
    "activation_layer": (int, 0, 1000, "decoder layer steered by activation steering (local models)"),
    "activation_alpha_per_level": (float, 0.0, 1.0, "activation push per level, as a fraction of the hidden norm"),
}
LOCAL_BACKENDS_KEPT = 2
CONNECTION_TEST_PROMPT = [{"role": "user", "content": "Reply with the single word: ready"}]

_local_backends: OrderedDict[tuple[str, str, str], LocalTransformersBackend] = OrderedDict()
_local_backends_lock = threading.Lock()


# --- reads -------------------------------------------------------------------------------------------------------


def backend_list(*, active_only: bool = False) -> DjangoQuerySet[ModelBackend]:
    backends = ModelBackend.objects.select_related("created_by").order_by("name")
    return backends.filter(is_active=True) if active_only else backends


def backend_get(*, backend_id: int) -> ModelBackend:
    try:
        return ModelBackend.objects.get(pk=backend_id)
    except ModelBackend.DoesNotExist:
        raise ApplicationError(f"Model backend {backend_id} does not exist.", status_code=404) from None


def backend_api_key_is_set(backend: ModelBackend) -> bool:
    """Whether the backend's key variable holds a value in this process (False when it names none)."""
    return bool(backend.api_key_env and os.environ.get(backend.api_key_env))


# --- writes ------------------------------------------------------------------------------------------------------


def backend_create(
    *,
    name: str,
    kind: str,
    model: str,
    gguf_file: str = "",
    endpoint_url: str = "",
    api_key_env: str = "",
    max_concurrency: int = 4,
    timeout_s: float = 60.0,
    max_retries: int = 3,
    generation: dict[str, Any] | None = None,
    is_active: bool = True,
    created_by: Any = None,
) -> ModelBackend:
    fields = _validated(
        name=name, kind=kind, model=model, gguf_file=gguf_file, endpoint_url=endpoint_url, api_key_env=api_key_env,
        max_concurrency=max_concurrency, timeout_s=timeout_s, max_retries=max_retries,
        generation=generation or {}, is_active=is_active,
    )
    try:
        with transaction.atomic():
            return ModelBackend.objects.create(
                **fields, created_by=created_by if getattr(created_by, "pk", None) else None
            )
    except IntegrityError:
        raise ApplicationError(
            f"A model backend named {fields['name']!r} already exists; choose another name.",
            extra={"field": "name"},
        ) from None


def backend_update(*, backend: ModelBackend, **changes: Any) -> ModelBackend:
    """Change any of the fields backend_create takes; the rest keep their values."""
    editable = {
        "name", "kind", "model", "gguf_file", "endpoint_url", "api_key_env", "max_concurrency", "timeout_s",
        "max_retries", "generation", "is_active",
    }
    unknown = sorted(set(changes) - editable)
    if unknown:
        raise ApplicationError(f"Cannot change {', '.join(unknown)} of a model backend.", extra={"fields": unknown})
    current = {field: getattr(backend, field) for field in editable}
    previous_local_key = _local_key(backend)
    fields = _validated(**{**current, **changes})
    for field, value in fields.items():
        setattr(backend, field, value)
    try:
        with transaction.atomic():
            backend.save(update_fields=list(fields))
    except IntegrityError:
        raise ApplicationError(
            f"A model backend named {fields['name']!r} already exists; choose another name.",
            extra={"field": "name"},
        ) from None
    with _local_backends_lock:  # the next use loads the model as now configured
        _local_backends.pop(previous_local_key, None)
    return backend


def _validated(
    *,
    name: str,
    kind: str,
    model: str,
    gguf_file: str,
    endpoint_url: str,
    api_key_env: str,
    max_concurrency: int,
    timeout_s: float,
    max_retries: int,
    generation: dict[str, Any],
    is_active: bool,
) -> dict[str, Any]:
    """Check every field of a backend and return them cleaned; each problem names its field and the reason."""
    name, model, gguf_file = name.strip(), model.strip(), gguf_file.strip()
    endpoint_url, api_key_env = endpoint_url.strip(), api_key_env.strip()

    def fail(field: str, message: str) -> ApplicationError:
        return ApplicationError(message, extra={"field": field})

    if not name:
        raise fail("name", "A model backend needs a name.")
    if kind not in ModelBackend.Kind.values:
        raise fail("kind", f"Backend kind {kind!r} is not one of {', '.join(ModelBackend.Kind.values)}.")
    if not model:
        raise fail("model", "Name the model: a local path or model id, or the model name the endpoint serves.")
    if kind == ModelBackend.Kind.OPENAI:
        if not endpoint_url:
            raise fail("endpoint_url", "An OpenAI-compatible backend needs its endpoint URL, e.g. http://host:8000/v1.")
        parts = urlsplit(endpoint_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise fail("endpoint_url", f"Endpoint URL {endpoint_url!r} must be an http:// or https:// address.")
        if parts.username or parts.password:
            raise fail("endpoint_url", "Do not put credentials in the endpoint URL; name a key variable instead.")
        if gguf_file:
            raise fail("gguf_file", "A GGUF file applies to local models only.")
    else:
        if endpoint_url:
            raise fail("endpoint_url", "A local model has no endpoint URL; choose the OpenAI-compatible kind.")
        if api_key_env:
            raise fail("api_key_env", "A local model needs no API key.")
        if gguf_file and not gguf_file.endswith(".gguf"):
            raise fail("gguf_file", f"GGUF file {gguf_file!r} must be a .gguf file name inside the model folder.")
    if api_key_env:
        if LOOKS_LIKE_A_SECRET.search(api_key_env):
            raise fail(
                "api_key_env",
                "This looks like an API key itself. Enter the NAME of the environment variable that holds the key "
                "(e.g. OPENAI_API_KEY); keys are never stored.",
            )
        if not ENV_NAME.match(api_key_env):
            raise fail("api_key_env", f"{api_key_env!r} is not an environment variable name (letters, digits, _).")
    max_concurrency, max_retries = int(max_concurrency), int(max_retries)
    if not 1 <= max_concurrency <= 256:
        raise fail("max_concurrency", f"Concurrency must be between 1 and 256, got {max_concurrency}.")
    if not 0 <= max_retries <= 20:
        raise fail("max_retries", f"Retries must be between 0 and 20, got {max_retries}.")
    timeout_s = float(timeout_s)
    if not 0 < timeout_s <= 3600:
        raise fail("timeout_s", f"The timeout must be above 0 and at most 3600 seconds, got {timeout_s:g}.")
    return {
        "name": name, "kind": kind, "model": model, "gguf_file": gguf_file, "endpoint_url": endpoint_url,
        "api_key_env": api_key_env, "max_concurrency": max_concurrency, "timeout_s": timeout_s,
        "max_retries": max_retries, "generation": generation_settings_clean(generation), "is_active": bool(is_active),
    }


def generation_settings_clean(generation: Any) -> dict[str, Any]:
    """A backend's generation settings, checked against GENERATION_KEYS (unknown keys are refused, not ignored)."""
    if not isinstance(generation, dict):
        raise ApplicationError("Generation settings must be a JSON object.", extra={"field": "generation"})
    cleaned: dict[str, Any] = {}
    for key, raw in generation.items():
        if key not in GENERATION_KEYS:
            raise ApplicationError(
                f"Unknown generation setting {key!r}; allowed: {', '.join(GENERATION_KEYS)}.",
                extra={"field": "generation", "key": key},
            )
        kind, low, high, meaning = GENERATION_KEYS[key]
        if isinstance(raw, bool) or not isinstance(raw, int | float) or (kind is int and float(raw) != int(raw)):
            raise ApplicationError(
                f"Generation setting {key} ({meaning}) must be {'an integer' if kind is int else 'a number'}, "
                f"got {raw!r}.",
                extra={"field": "generation", "key": key},
            )
        value = kind(raw)
        if not low <= value <= high:
            raise ApplicationError(
                f"Generation setting {key} ({meaning}) must be between {low:g} and {high:g}, got {value:g}.",
                extra={"field": "generation", "key": key},
            )
        cleaned[key] = value
    return cleaned


# --- using a backend -------------------------------------------------------------------------------------------


def backend_generation_params(*, backend: ModelBackend, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, then the backend's own settings, then the caller's overrides (e.g. an evaluation's seed)."""
    return {**DEFAULT_GENERATION, **backend.generation, **generation_settings_clean(overrides or {})}


def backend_build(*, backend: ModelBackend) -> ChatBackend:
    """A ChatBackend for the row. Local models are cached per process; endpoints are cheap and built afresh, so a
    changed key variable takes effect at the next call."""
    if backend.kind == ModelBackend.Kind.LOCAL:
        return _local_backend(backend)
    if backend.api_key_env and not backend_api_key_is_set(backend):
        raise ApplicationError(
            f"Backend {backend.name!r} reads its API key from the environment variable {backend.api_key_env}, "
            "which is not set on this worker.",
            extra={"backend": backend.pk, "api_key_env": backend.api_key_env},
        )
    env_name = backend.api_key_env
    return OpenAICompatibleBackend(
        backend.endpoint_url,
        backend.model,
        api_key=(lambda: os.environ.get(env_name)) if env_name else None,
        timeout_s=backend.timeout_s,
        max_retries=backend.max_retries,
        max_concurrency=backend.max_concurrency,
        name=backend.name,
    )


def local_backend_for(*, backend: ModelBackend) -> LocalTransformersBackend:
    """The loaded local model of a row (activation steering needs its model and tokenizer)."""
    if backend.kind != ModelBackend.Kind.LOCAL:
        raise ApplicationError(
            f"Backend {backend.name!r} is an OpenAI-compatible endpoint; this needs a local model.",
            extra={"backend": backend.pk},
        )
    return _local_backend(backend)


def _local_key(backend: ModelBackend) -> tuple[str, str, str]:
    return (backend.model, backend.gguf_file, settings.MODELING_DEVICE)


def _local_backend(backend: ModelBackend) -> LocalTransformersBackend:
    key = _local_key(backend)
    batch_size = int(backend.generation.get("batch_size", 8))
    with _local_backends_lock:
        cached = _local_backends.get(key)
        if cached is not None:
            _local_backends.move_to_end(key)
            cached.name, cached.batch_size = backend.name, batch_size
            return cached
        local = LocalTransformersBackend(
            backend.model,
            gguf_file=backend.gguf_file or None,
            device=settings.MODELING_DEVICE,
            cache_dir=settings.MODELING_ARTIFACTS_DIR / "models",
            name=backend.name,
            batch_size=batch_size,
        )
        _local_backends[key] = local
        while len(_local_backends) > LOCAL_BACKENDS_KEPT:
            _local_backends.popitem(last=False)
        return local


@dataclass(frozen=True)
class ConnectionTest:
    ok: bool
    message: str
    seconds: float
    answer: str = ""


def backend_test_connection(*, backend: ModelBackend) -> ConnectionTest:
    """Ask the backend for one short answer. Failures are reported in the result, not raised: the admin page shows
    them next to the backend."""
    started = time.monotonic()
    try:
        chat = backend_build(backend=backend)
        if isinstance(chat, LocalTransformersBackend):
            chat.load()
        answer = chat.chat([CONNECTION_TEST_PROMPT], temperature=0.0, max_new_tokens=8, seed=0)[0]
    except (ApplicationError, BackendError, ValueError) as exc:
        message = exc.message if isinstance(exc, ApplicationError) else str(exc)
        return ConnectionTest(ok=False, message=message, seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    return ConnectionTest(
        ok=True, message=f"{backend.name} answered in {seconds:.1f} s.", seconds=seconds, answer=answer[:200]
    )


BACKEND_TEST_JOB = "modeling.backend_test"


def backend_queue(*, backend: ModelBackend) -> str:
    """Where work that runs a backend goes: local models on the "gpu" queue when a GPU worker exists (loading and
    generating are heavy), endpoints on "default" (workers only wait on the network)."""
    if backend.kind == ModelBackend.Kind.LOCAL and getattr(settings, "VALUEFLOW_GPU_WORKER", False):
        return "gpu"
    return "default"


def backend_test_start(*, backend: ModelBackend, user: Any) -> Any:
    """Start a job that tests the backend's connection (a first local load may convert a model for a minute)."""
    from common.services import job_create

    return job_create(
        kind=BACKEND_TEST_JOB,
        params={"backend_id": backend.pk},
        created_by=user,
        title=f"Test connection: {backend.name}",
        queue=backend_queue(backend=backend),
        dedupe_key=f"backend-test-{backend.pk}",
    )


def backend_test_job(ctx: Any) -> dict[str, Any]:
    """Job handler: the connection test's outcome as the job result; a failed test fails the job with its reason."""
    backend = backend_get(backend_id=int(ctx.params["backend_id"]))
    ctx.report(0.1, f"Asking {backend.name} for a short answer…")
    outcome = backend_test_connection(backend=backend)
    if not outcome.ok:
        raise ApplicationError(f"{backend.name}: {outcome.message}", extra={"backend": backend.pk})
    return {"ok": True, "message": outcome.message, "seconds": round(outcome.seconds, 2), "answer": outcome.answer}
