"""What every HTTP backend shares: one async client per backend (connection reuse), a bound on requests
in flight, a per-request timeout, and retries with exponential backoff and jitter on 429, 5xx, timeouts,
dropped connections and malformed replies, honouring Retry-After. 401/403/404 stop at once with one line.

API keys live only in request headers: never in `describe()`, errors, the store or the report.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx

from . import aio
from .base import FatalModelError, ModelError

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
MAX_WAIT_S = 60.0


class HTTPBackend:
    def __init__(self, spec: str, base_url: str, api_key: str | None = None, concurrency: int = 8,
                 timeout_s: float = 120.0, max_retries: int = 6, backoff_s: float = 1.0) -> None:
        self.spec = spec
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    def _ready(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """Created on the background loop, on first use."""
        if self._client is None or self._slots is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url, headers=self._headers, timeout=self.timeout_s,
                limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            )
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._client, self._slots

    def post_json(self, path: str, payload: dict[str, Any],
                  retries: int | None = None) -> tuple[dict[str, Any], float, int]:
        """POST and parse a JSON reply: (body, latency, retries). `retries` overrides the backend's own
        (a preflight check must answer in seconds)."""
        return aio.run(self._with_retries(path, payload, stream=False, retries=retries))  # type: ignore[no-any-return]

    def post_ndjson(self, path: str, payload: dict[str, Any],
                    retries: int | None = None) -> tuple[list[dict[str, Any]], float, float | None, int]:
        """POST and read a newline-delimited JSON stream: (objects, latency, time to first object, retries)."""
        return aio.run(self._with_retries(path, payload, stream=True, retries=retries))  # type: ignore[no-any-return]

    def probe_json(self, url: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """One POST without retries, for optional endpoints: the JSON reply, or None on any failure."""
        async def probe() -> dict[str, Any] | None:
            client, slots = self._ready()
            async with slots:
                try:
                    response = await client.post(url, json=payload)
                    return response.json() if response.status_code == 200 else None
                except (httpx.HTTPError, json.JSONDecodeError):
                    return None

        return aio.run(probe())

    def get_json(self, path: str) -> dict[str, Any]:
        async def get() -> dict[str, Any]:
            client, _ = self._ready()
            try:
                response = await client.get(path)
            except httpx.HTTPError as exc:
                raise ModelError(f"{self.spec}: cannot reach {self.base_url} ({type(exc).__name__})") from None
            self._check_fatal(response)
            if response.status_code >= 400:
                raise ModelError(f"{self.spec}: {path} answered HTTP {response.status_code}")
            body: dict[str, Any] = response.json()
            return body

        return aio.run(get())

    async def _with_retries(self, path: str, payload: dict[str, Any], stream: bool,
                            retries: int | None = None) -> Any:
        client, slots = self._ready()
        last = ""
        tries = (self.max_retries if retries is None else retries) + 1
        for attempt in range(tries):
            wait: float | None = None
            async with slots:
                start = time.perf_counter()
                try:
                    if stream:
                        objects, ttft = await self._stream(client, path, payload, start)
                        return objects, time.perf_counter() - start, ttft, attempt
                    response = await client.post(path, json=payload)
                    self._check_fatal(response)
                    if response.status_code in RETRY_STATUS:
                        last, wait = f"HTTP {response.status_code}", _retry_after(response)
                    elif response.status_code >= 400:
                        raise ModelError(f"{self.spec}: HTTP {response.status_code}: {response.text[:200]}")
                    else:
                        return response.json(), time.perf_counter() - start, attempt
                except httpx.ConnectError as exc:
                    last = f"cannot connect to {self.base_url}: {exc or type(exc).__name__}"
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    last = type(exc).__name__
                except json.JSONDecodeError:
                    last = "malformed JSON in the reply"
            if attempt < tries - 1:
                backoff = min(MAX_WAIT_S, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                await asyncio.sleep(min(MAX_WAIT_S, wait if wait is not None else backoff))
        raise ModelError(f"{self.spec}: gave up after {tries} tries ({last})")

    async def _stream(self, client: httpx.AsyncClient, path: str, payload: dict[str, Any],
                      start: float) -> tuple[list[dict[str, Any]], float | None]:
        objects: list[dict[str, Any]] = []
        ttft = None
        async with client.stream("POST", path, json=payload) as response:
            self._check_fatal(response)
            if response.status_code >= 400:
                await response.aread()
                if response.status_code in RETRY_STATUS:
                    raise httpx.TransportError(f"HTTP {response.status_code}")
                raise ModelError(f"{self.spec}: HTTP {response.status_code}: {response.text[:200]}")
            async for line in _lines(response):
                objects.append(json.loads(line))
                ttft = ttft if ttft is not None else time.perf_counter() - start
        if not objects or not objects[-1].get("done", True):
            raise httpx.TransportError("stream ended before the last message")
        return objects, ttft

    def _check_fatal(self, response: httpx.Response) -> None:
        if response.status_code in (401, 403):
            raise FatalModelError(f"{self.spec}: authentication failed (HTTP {response.status_code}); "
                                  "check the API key environment variable")
        if response.status_code == 404:
            raise FatalModelError(f"{self.spec}: not found at {self.base_url} (HTTP 404): unknown model or endpoint")


async def _lines(response: httpx.Response) -> AsyncIterator[str]:
    async for line in response.aiter_lines():
        if line.strip():
            yield line


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None
