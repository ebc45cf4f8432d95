"""Local HTTP servers for the backend tests, on 127.0.0.1 only.

`OllamaStandIn` speaks Ollama's HTTP protocol (/api/chat, /api/generate with raw, /api/tags; NDJSON
streaming with done, done_reason and eval counters). It stands in for Ollama because the Ollama server binary
cannot be installed on these machines (no package registry ships it). `FaultyServer` speaks OpenAI's
chat-completions protocol and plays a scripted list of faults before answering.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.requests: list[dict] = []
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass

    @property
    def owner(self):
        return self.server.owner  # type: ignore[attr-defined]

    def _body(self) -> dict:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        self.owner.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
        return body

    def _send(self, status: int, payload: bytes, content_type: str = "application/json", headers=()) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)


class OllamaStandIn(_Server):
    """Answers every prompt with `reply`, split into streamed chunks of a few characters."""

    def __init__(
        self,
        reply="```python\nprint(42)\n```",
        models=("llama3.1:8b",),
        latency_s: float = 0.0,
        raw_reply: str = " 23)\n```",
    ) -> None:
        self.reply = reply  # a string, or a function of the request body
        self.raw_reply = raw_reply  # what /api/generate with raw=true continues a prompt with
        self.models = models
        self.latency_s = latency_s

        class Handler(_Handler):
            def do_GET(self) -> None:
                if self.path == "/api/tags":
                    self._send(200, json.dumps({"models": [{"name": m} for m in self.owner.models]}).encode())
                else:
                    self._send(404, b'{"error": "not found"}')

            def do_POST(self) -> None:
                body = self._body()
                if self.path not in ("/api/chat", "/api/generate"):
                    return self._send(404, b'{"error": "not found"}')
                if body.get("model") not in self.owner.models:
                    return self._send(404, json.dumps({"error": f"model '{body.get('model')}' not found"}).encode())
                time.sleep(self.owner.latency_s)
                text = self.owner.reply(body) if callable(self.owner.reply) else self.owner.reply
                if self.path == "/api/generate" and body.get("raw"):
                    text = self.owner.raw_reply
                chunks = [text[i : i + 4] for i in range(0, len(text), 4)]
                key = "message" if self.path == "/api/chat" else "response"
                lines = [
                    {
                        "model": body["model"],
                        "done": False,
                        key: {"role": "assistant", "content": c} if key == "message" else c,
                    }
                    for c in chunks
                ]
                lines.append(
                    {
                        "model": body["model"],
                        "done": True,
                        "done_reason": "stop",
                        "prompt_eval_count": 12,
                        "eval_count": len(chunks),
                        "eval_duration": 1_000_000,
                        "total_duration": 2_000_000,
                        key: {"role": "assistant", "content": ""} if key == "message" else "",
                    }
                )
                if body.get("stream", True):
                    payload = "".join(json.dumps(line) + "\n" for line in lines).encode()
                    self._send(200, payload, "application/x-ndjson")
                else:
                    merged = {**lines[-1], key: {"role": "assistant", "content": text} if key == "message" else text}
                    self._send(200, json.dumps(merged).encode())

        super().__init__(Handler)


def chat_reply(text: str, model: str = "m") -> bytes:
    return json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3},
        }
    ).encode()


class FaultyServer(_Server):
    """OpenAI chat completions with scripted faults: each POST consumes the next fault, then answers `reply`.

    Faults: ("status", code, headers), ("slow", seconds), ("drop",), ("malformed",), ("ok",) (answer normally,
    e.g. a preflight check before the faults begin).
    """

    def __init__(self, faults: list[tuple], reply: str = "```python\nprint(42)\n```") -> None:
        self.faults = list(faults)
        self.reply = reply
        self.lock = threading.Lock()

        class Handler(_Handler):
            def do_POST(self) -> None:
                self._body()
                with self.owner.lock:
                    fault = self.owner.faults.pop(0) if self.owner.faults else None
                if fault is None:
                    return self._send(200, chat_reply(self.owner.reply))
                kind = fault[0]
                if kind == "ok":
                    return self._send(200, chat_reply(self.owner.reply))
                if kind == "status":
                    return self._send(fault[1], b'{"error": {"message": "scripted"}}', headers=fault[2])
                if kind == "slow":
                    time.sleep(fault[1])
                    return self._send(200, chat_reply(self.owner.reply))
                if kind == "drop":
                    self.connection.close()
                    self.close_connection = True
                    return None
                if kind == "malformed":
                    return self._send(200, b'{"choices": [')
                raise AssertionError(kind)

        super().__init__(Handler)
