"""Which evaluated prompt prefix a new prompt may start from, so that starting there is bit-identical to
evaluating it from scratch.

Every prompt is evaluated in the same canonical way: in chunks of `CHUNK` tokens at fixed positions (0, CHUNK,
2*CHUNK, ...), the last one partial. A chunk's key/value rows therefore depend only on the tokens up to its end,
never on what was evaluated before or after, so a state that holds the rows of the first k whole chunks of a
prompt can stand in for evaluating them. Only whole chunks are ever reused: the rows of a partial last chunk, and
of generated tokens (decoded one at a time), were computed in a differently shaped batch than a longer prompt's
whole chunk would compute them in, and are always evaluated again.

This module is the bookkeeping, free of llama.cpp: the reusable length of a prompt against what a slot holds
(`reusable`), the chunks still to evaluate (`chunks`) and a byte-bounded LRU of saved slot states (`Snapshots`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

CHUNK = 32  # tokens per canonical chunk; part of how results are computed (stored with every run)


def shared_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens `a` and `b` have in common."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def reusable(evaluated: Sequence[int], tokens: Sequence[int]) -> int:
    """Tokens of `tokens` whose rows can be taken from a state holding the canonical evaluation of `evaluated`:
    whole shared chunks, and never all of `tokens` (the last prompt token is evaluated for its logits)."""
    shared = min(shared_prefix(evaluated, tokens), len(tokens) - 1)
    return max(0, shared - shared % CHUNK)


def chunks(start: int, end: int) -> list[tuple[int, int]]:
    """The canonical chunks covering positions [start, end); `start` must be a chunk boundary."""
    if start % CHUNK:
        raise ValueError(f"evaluation must resume at a chunk boundary, not at {start}")
    return [(i, min(i + CHUNK, end)) for i in range(start, end, CHUNK)]


@dataclass(frozen=True)
class Snapshot:
    """A slot's saved state: the rows of `tokens` (whole chunks only), as llama.cpp serialised them."""

    tokens: tuple[int, ...]
    state: bytes


class Snapshots:
    """Saved prefix states, least recently used first out, within `capacity` bytes.

    A snapshot whose tokens another one extends is redundant (the longer one can be cut back to it), so it is not
    kept: the system prompt, a problem's statement and the judge's rubric each live inside the newest snapshot
    that contains them."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[tuple[int, ...], Snapshot] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes held."""
        return self._bytes

    def best(self, tokens: Sequence[int]) -> tuple[int, Snapshot | None]:
        """The snapshot that covers most of `tokens` and how many tokens it covers (0, None: none helps)."""
        length, found = 0, None
        for snapshot in self._items.values():
            covered = reusable(snapshot.tokens, tokens)
            if covered > length:
                length, found = covered, snapshot
        if found is not None:
            self._items.move_to_end(found.tokens)
        return length, found

    def covers(self, tokens: Sequence[int]) -> bool:
        """Whether a kept snapshot already holds all of `tokens`."""
        n = len(tokens)
        return any(len(key) >= n and key[:n] == tuple(tokens) for key in self._items)

    def add(self, tokens: Sequence[int], state: bytes) -> None:
        """Keep the state of `tokens` (a whole number of chunks), dropping the snapshots it extends and, past
        the capacity, the least recently used."""
        key = tuple(tokens)
        if len(key) % CHUNK or not key:
            raise ValueError("a snapshot holds whole chunks")
        if self.covers(key) or len(state) > self.capacity:
            return
        for old in [k for k in self._items if k == key[: len(k)]]:
            self._drop(old)
        self._items[key] = Snapshot(key, state)
        self._bytes += len(state)
        while self._bytes > self.capacity:
            self._drop(next(iter(self._items)))

    def _drop(self, key: tuple[int, ...]) -> None:
        self._bytes -= len(self._items.pop(key).state)
