"""What every HTTP backend shares: one async client per backend (connection reuse), a bound on requests
in flight, a per-request timeout, and retries with exponential backoff and jitter on 429, 5xx, timeouts,
dropped connections and malformed replies, honouring Retry-After. 401/403/404 stop at once with one line.
Several server addresses share the requests (endpoints.py): a failing one is taken out, the request goes on.

API keys live only in request headers: never in `describe()`, errors, the store or the report.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx

from . import aio
from .base import FatalModelError, ModelError
from .endpoints import OUT_S, Endpoint, EndpointPool, EndpointStats

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529}
MAX_WAIT_S = 60.0


class _Retryable(Exception):
    """A try that another try may fix: `why` for the message, `wait` from Retry-After, `refused` for a refused
    connection (the endpoint is not there: with another endpoint in rotation, go there at once)."""

    def __init__(self, why: str, wait: float | None = None, refused: bool = False) -> None:
        super().__init__(why)
        self.why, self.wait, self.refused = why, wait, refused


class _EndpointFailed(Exception):
    """One endpoint gave up on a request (after its retries, or refusing): take it out, go elsewhere."""


class HTTPBackend:
    """`base_url`: one server address or several (each request to the least busy one in rotation; see
    endpoints.py)."""

    def __init__(
        self,
        spec: str,
        base_url: str | Sequence[str],
        api_key: str | None = None,
        concurrency: int = 8,
        timeout_s: float = 120.0,
        max_retries: int = 6,
        backoff_s: float = 1.0,
        out_s: float = OUT_S,
    ) -> None:
        self.spec = spec
        urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.pool = EndpointPool([url.rstrip("/") for url in urls], out_s)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.concurrency = concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self._client: httpx.AsyncClient | None = None
        self._slots: asyncio.Semaphore | None = None

    @property
    def base_urls(self) -> list[str]:
        return [endpoint.url for endpoint in self.pool.endpoints]

    @property
    def base_url(self) -> str:
        """The endpoints, as one line (stored with the run, named in messages)."""
        return ", ".join(self.base_urls)

    def _ready(self) -> tuple[httpx.AsyncClient, asyncio.Semaphore]:
        """Created on the background loop, on first use."""
        if self._client is None or self._slots is None:
            self._client = httpx.AsyncClient(
                headers=self._headers,
                timeout=self.timeout_s,
                limits=httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency),
            )
            self._slots = asyncio.Semaphore(self.concurrency)
        return self._client, self._slots

    def _first(self) -> Endpoint:
        """The endpoint for a request that is not retried elsewhere (probes, listings)."""
        endpoint = self.pool.pick(set())
        assert endpoint is not None  # a first pick always finds one
        return endpoint

    def post_json(
        self, path: str, payload: dict[str, Any], retries: int | None = None
    ) -> tuple[dict[str, Any], float, int]:
        """POST and parse a JSON reply: (body, latency, retries). `retries` overrides the backend's own
        (a preflight check must answer in seconds)."""
        return aio.run(self._routed(path, payload, stream=False, retries=retries))  # type: ignore[no-any-return]

    def post_ndjson(
        self, path: str, payload: dict[str, Any], retries: int | None = None
    ) -> tuple[list[dict[str, Any]], float, float | None, int]:
        """POST and read a newline-delimited JSON stream: (objects, latency, time to first object, retries)."""
        return aio.run(self._routed(path, payload, stream=True, retries=retries))  # type: ignore[no-any-return]

    def probe_json(self, path: str, payload: dict[str, Any], root_suffix: str = "") -> dict[str, Any] | None:
        """One POST without retries, for optional endpoints: the JSON reply, or None on any failure. `path` is
        taken from the server's address less `root_suffix` (e.g. '/v1': tokenizers live beside the API)."""

        async def probe() -> dict[str, Any] | None:
            client, slots = self._ready()
            endpoint = self._first()
            async with slots:
                try:
                    response = await client.post(endpoint.url.removesuffix(root_suffix) + path, json=payload)
                    return response.json() if response.status_code == 200 else None
                except (httpx.HTTPError, json.JSONDecodeError):
                    return None

        return aio.run(probe())

    def get_json(self, path: str) -> dict[str, Any]:
        async def get() -> dict[str, Any]:
            client, _ = self._ready()
            endpoint = self._first()
            try:
                response = await client.get(endpoint.url + path)
            except httpx.HTTPError as exc:
                raise ModelError(f"{self.spec}: cannot reach {endpoint.url} ({type(exc).__name__})") from None
            self._check_fatal(response, endpoint.url)
            if response.status_code >= 400:
                raise ModelError(f"{self.spec}: {path} answered HTTP {response.status_code}")
            body: dict[str, Any] = response.json()
            return body

        return aio.run(get())

    async def _routed(self, path: str, payload: dict[str, Any], stream: bool, retries: int | None) -> Any:
        """Send to the least busy endpoint in rotation; when it gives up, take it out and try the next."""
        tried: set[int] = set()
        failures: list[str] = []
        while (endpoint := self.pool.pick(tried)) is not None:
            tried.add(endpoint.index)
            try:
                with self.pool.using(endpoint):
                    return await self._with_retries(endpoint, path, payload, stream, retries, tried)
            except _EndpointFailed as exc:
                self.pool.take_out(endpoint)
                failures.append(f"{endpoint.url}: {exc}" if len(self.pool) > 1 else str(exc))
        raise ModelError(f"{self.spec}: " + "; ".join(failures))

    async def _with_retries(
        self, endpoint: Endpoint, path: str, payload: dict[str, Any], stream: bool, retries: int | None, tried: set[int]
    ) -> Any:
        client, slots = self._ready()
        last = ""
        tries = (self.max_retries if retries is None else retries) + 1
        for attempt in range(tries):
            wait: float | None = None
            async with slots:
                self.pool.sent(endpoint)
                try:
                    result = await self._once(client, endpoint.url, path, payload, stream)
                except _Retryable as exc:
                    self.pool.errored(endpoint)
                    last, wait = exc.why, exc.wait
                    if exc.refused and self.pool.alternative(tried):
                        raise _EndpointFailed(last) from None
                except ModelError:
                    self.pool.errored(endpoint)
                    raise
                else:
                    self.pool.answered(endpoint, result[1])
                    return (*result, attempt)
            if attempt < tries - 1:
                backoff = min(MAX_WAIT_S, self.backoff_s * 2**attempt) * (0.5 + random.random() / 2)
                await asyncio.sleep(min(MAX_WAIT_S, wait if wait is not None else backoff))
        raise _EndpointFailed(f"gave up after {tries} tries ({last})")

    async def _once(
        self, client: httpx.AsyncClient, root: str, path: str, payload: dict[str, Any], stream: bool
    ) -> tuple[Any, ...]:
        """One request: (body, latency) or (objects, latency, time to first object); `_Retryable` for what
        another try may fix, ModelError for what it cannot."""
        start = time.perf_counter()
        try:
            if stream:
                objects, ttft = await self._stream(client, root, path, payload, start)
                return objects, time.perf_counter() - start, ttft
            response = await client.post(root + path, json=payload)
            self._check_fatal(response, root)
            if response.status_code in RETRY_STATUS:
                raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
            if response.status_code >= 400:
                raise ModelError(f"{self.spec}: HTTP {response.status_code}: {response.text[:200]}")
            return response.json(), time.perf_counter() - start
        except httpx.ConnectError as exc:
            raise _Retryable(f"cannot connect to {root}: {exc or type(exc).__name__}", refused=True) from None
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise _Retryable(type(exc).__name__) from None
        except json.JSONDecodeError:
            raise _Retryable("malformed JSON in the reply") from None

    async def _stream(
        self, client: httpx.AsyncClient, root: str, path: str, payload: dict[str, Any], start: float
    ) -> tuple[list[dict[str, Any]], float | None]:
        objects: list[dict[str, Any]] = []
        ttft = None
        async with client.stream("POST", root + path, json=payload) as response:
            self._check_fatal(response, root)
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

    def _check_fatal(self, response: httpx.Response, root: str) -> None:
        if response.status_code in (401, 403):
            raise FatalModelError(
                f"{self.spec}: authentication failed (HTTP {response.status_code}); "
                "check the API key environment variable"
            )
        if response.status_code == 404:
            raise FatalModelError(f"{self.spec}: not found at {root} (HTTP 404): unknown model or endpoint")


def endpoint_stats(model: object) -> list[EndpointStats]:
    """What each endpoint of an HTTP model did so far; nothing for a model without endpoints (embedded)."""
    http = getattr(model, "http", None)
    return http.pool.stats() if isinstance(http, HTTPBackend) else []


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
