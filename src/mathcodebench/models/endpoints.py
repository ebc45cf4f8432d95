"""Several servers behind one model: a lab runs more than one vLLM, Ollama or llama.cpp server per model.

Each request goes to the endpoint with the fewest requests in flight (ties: the order given). An endpoint that
fails (a refused connection, or 5xx, timeouts and dropped connections after its own retries) is taken out of
rotation for a back-off period that doubles while it keeps failing, and the request goes to another endpoint.
When every endpoint is out, a request still tries the one due back first: requests fail, and the run's outage
detection stops it (resumably), only when all of them are down. What each endpoint did (requests, answers,
errors, times taken out, latency) is counted for the run's report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import BaseModel

OUT_S = 10.0  # the first back-off period of a failing endpoint
MAX_OUT_S = 300.0


class EndpointStats(BaseModel):
    """What one endpoint did for one backend (over its life, or between two snapshots)."""

    url: str
    requests: int = 0  # HTTP requests sent, retries included
    answered: int = 0  # requests that got a usable reply
    errors: int = 0  # requests that failed (transport, retryable status, malformed reply)
    taken_out: int = 0  # times the endpoint was taken out of rotation
    latency_s: float = 0.0  # summed over answered requests
    latency_max_s: float = 0.0

    def since(self, earlier: EndpointStats | None) -> EndpointStats:
        """The counts added after `earlier` (the maximum latency is kept as is: it cannot be subtracted)."""
        if earlier is None:
            return self
        return self.model_copy(update={name: getattr(self, name) - getattr(earlier, name) for name in _SUMMED})

    def plus(self, other: EndpointStats) -> EndpointStats:
        return self.model_copy(
            update={
                **{name: getattr(self, name) + getattr(other, name) for name in _SUMMED},
                "latency_max_s": max(self.latency_max_s, other.latency_max_s),
            }
        )


_SUMMED = ("requests", "answered", "errors", "taken_out", "latency_s")


@dataclass
class Endpoint:
    url: str
    index: int
    in_flight: int = 0
    failures: int = 0  # in a row; a success resets it
    out_until: float = 0.0  # monotonic time it comes back into rotation
    requests: int = 0
    answers: int = 0
    errors: int = 0
    taken_out: int = 0
    latency_s: float = 0.0
    latency_max_s: float = 0.0

    def stats(self) -> EndpointStats:
        return EndpointStats(
            url=self.url,
            requests=self.requests,
            answered=self.answers,
            errors=self.errors,
            taken_out=self.taken_out,
            latency_s=self.latency_s,
            latency_max_s=self.latency_max_s,
        )


class EndpointPool:
    """The endpoints of one backend and their state. Safe to use from several threads."""

    def __init__(
        self,
        urls: Sequence[str],
        out_s: float = OUT_S,
        max_out_s: float = MAX_OUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not urls:
            raise ValueError("an endpoint pool needs at least one URL")
        self.endpoints = [Endpoint(url, i) for i, url in enumerate(dict.fromkeys(urls))]
        self.out_s, self.max_out_s, self._clock = out_s, max_out_s, clock
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.endpoints)

    def _up(self, endpoint: Endpoint) -> bool:
        return endpoint.out_until <= self._clock()

    def pick(self, tried: set[int]) -> Endpoint | None:
        """The endpoint for a request's next try: the least busy one in rotation that it has not tried; when
        none is in rotation, on its first try, the one due back first; else None (nowhere left to go)."""
        with self._lock:
            fresh = [e for e in self.endpoints if e.index not in tried]
            up = [e for e in fresh if self._up(e)]
            if up:
                return min(up, key=lambda e: (e.in_flight, e.index))
            if not tried:
                return min(fresh, key=lambda e: (e.out_until, e.index))
            return None

    def alternative(self, tried: set[int]) -> bool:
        """Whether a request that has tried `tried` could still go to an endpoint in rotation."""
        with self._lock:
            return any(e.index not in tried and self._up(e) for e in self.endpoints)

    @contextmanager
    def using(self, endpoint: Endpoint) -> Iterator[None]:
        with self._lock:
            endpoint.in_flight += 1
        try:
            yield
        finally:
            with self._lock:
                endpoint.in_flight -= 1

    def sent(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.requests += 1

    def answered(self, endpoint: Endpoint, latency_s: float) -> None:
        with self._lock:
            endpoint.failures = 0
            endpoint.answers += 1
            endpoint.latency_s += latency_s
            endpoint.latency_max_s = max(endpoint.latency_max_s, latency_s)

    def errored(self, endpoint: Endpoint) -> None:
        with self._lock:
            endpoint.errors += 1

    def take_out(self, endpoint: Endpoint) -> float:
        """Out of rotation for the back-off period (doubling with each failure in a row); returns it."""
        with self._lock:
            endpoint.failures += 1
            period = min(self.max_out_s, self.out_s * 2.0 ** (endpoint.failures - 1))
            endpoint.out_until = self._clock() + period
            endpoint.taken_out += 1
            return period

    def stats(self) -> list[EndpointStats]:
        with self._lock:
            return [e.stats() for e in self.endpoints]
