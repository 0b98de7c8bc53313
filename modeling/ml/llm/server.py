"""A small OpenAI-compatible chat server on the loopback interface, answering /v1/chat/completions with any
ChatBackend.

It lets the HTTP client (`OpenAICompatibleBackend`) be tested over real sockets against a real model, and it serves
a local model to tools that speak only the OpenAI protocol:

    python -m modeling.ml.llm.server --model smollm2-135m-instruct --cache-dir var/artifacts/models --port 8089

It binds 127.0.0.1 only and runs one generation at a time per backend (the local backend's lock); it is no
production inference server — point evaluations at vLLM or Ollama for that.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from modeling.ml.llm.backends import BackendError, ChatBackend, validate_conversations

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 1024 * 1024


class ChatCompletionHandler(BaseHTTPRequestHandler):
    """POST /v1/chat/completions and GET /v1/models, with OpenAI-style error bodies."""

    server: ChatServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # requests are not worth a line on stderr each; errors reach the client

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") != "/v1/models":
            self.send_error_json(HTTPStatus.NOT_FOUND, f"No route for GET {self.path}.")
            return
        data = {"object": "list", "data": [{"id": self.server.model_name, "object": "model", "owned_by": "valueflow"}]}
        self.send_json(HTTPStatus.OK, data)

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != "/v1/chat/completions":
            self.send_error_json(HTTPStatus.NOT_FOUND, f"No route for POST {self.path}.")
            return
        if not self.authorised():
            self.send_error_json(HTTPStatus.UNAUTHORIZED, "Missing or wrong API key.", kind="authentication_error")
            return
        try:
            request = self.read_request()
        except ValueError as exc:
            self.send_error_json(HTTPStatus.BAD_REQUEST, str(exc))
            return
        status, body = self.answer(request)
        self.send_json(status, body)

    def authorised(self) -> bool:
        expected = self.server.api_key
        return not expected or self.headers.get("Authorization", "") == f"Bearer {expected}"

    def read_request(self) -> dict[str, Any]:
        """The JSON body, checked: ValueError with the reason when it is not a usable chat request."""
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY_BYTES:
            raise ValueError(f"The request body must be 1 byte to {MAX_BODY_BYTES} bytes of JSON.")
        try:
            request = json.loads(self.rfile.read(length))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"The request body is not valid JSON: {exc}.") from exc
        if not isinstance(request, dict):
            raise ValueError("The request body must be a JSON object.")
        messages = request.get("messages")
        if not isinstance(messages, list):
            raise ValueError("messages must be a list of {role, content} objects.")
        validate_conversations([messages])
        for key, kind, meaning in (("temperature", (int, float), "a number"), ("max_tokens", int, "an integer"),
                                   ("seed", int, "an integer")):
            if request.get(key) is not None and (isinstance(request[key], bool) or not isinstance(request[key], kind)):
                raise ValueError(f"{key} must be {meaning}.")
        return request

    def answer(self, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Run the backend on one request; returns (HTTP status, JSON body)."""
        try:
            text = self.server.backend.chat(
                [request["messages"]],
                temperature=float(request.get("temperature", 1.0)),
                max_new_tokens=int(request.get("max_tokens") or 160),
                seed=request.get("seed"),
            )[0]
        except ValueError as exc:
            return HTTPStatus.BAD_REQUEST, _error_body(str(exc))
        except BackendError as exc:
            return HTTPStatus.BAD_GATEWAY, _error_body(str(exc), kind="backend_error")
        return HTTPStatus.OK, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.get("model") or self.server.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }

    def send_json(self, status: int, body: dict[str, Any]) -> None:
        self.send_raw(status, json.dumps(body).encode("utf-8"))

    def send_raw(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def send_error_json(self, status: int, message: str, *, kind: str = "invalid_request_error") -> None:
        self.send_json(status, _error_body(message, kind=kind))


def _error_body(message: str, *, kind: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": kind}}


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        backend: ChatBackend,
        *,
        port: int = 0,
        model_name: str | None = None,
        api_key: str | None = None,
        handler_class: type[ChatCompletionHandler] = ChatCompletionHandler,
    ) -> None:
        super().__init__((LOOPBACK, port), handler_class)
        self.backend = backend
        self.model_name = model_name or backend.name
        self.api_key = api_key

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_port}/v1"  # bound to LOOPBACK in __init__


@contextmanager
def serve_backend(
    backend: ChatBackend,
    *,
    model_name: str | None = None,
    api_key: str | None = None,
    handler_class: type[ChatCompletionHandler] = ChatCompletionHandler,
) -> Iterator[ChatServer]:
    """Serve `backend` on a free loopback port in a background thread for the duration of the block."""
    server = ChatServer(backend, model_name=model_name, api_key=api_key, handler_class=handler_class)
    thread = threading.Thread(target=server.serve_forever, name="chat-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    from modeling.ml.llm.backends import LocalTransformersBackend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m-instruct", help="model id or folder (default SmolLM2)")
    parser.add_argument("--gguf-file", default=None, help="GGUF file inside the model folder")
    parser.add_argument("--cache-dir", default=None, help="where converted GGUF models are kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--api-key-env", default=None, help="require the key held by this environment variable")
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    backend = LocalTransformersBackend(
        args.model, gguf_file=args.gguf_file, device=args.device, cache_dir=args.cache_dir
    )
    backend.load()
    server = ChatServer(backend, port=args.port, api_key=api_key)
    print(f"Serving {backend.name} at {server.base_url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
