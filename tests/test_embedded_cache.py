"""The prefix cache's bookkeeping (no model): which prefix a prompt may start from, the canonical chunks, and the
byte-bounded store of saved states."""

from __future__ import annotations

import pytest

from mathcodebench.models.prefix_cache import CHUNK, Snapshots, chunks, reusable, shared_prefix


def tokens(n: int, start: int = 0) -> list[int]:
    return list(range(start, start + n))


def test_only_whole_shared_chunks_are_reused():
    held = tokens(3 * CHUNK + 5)
    assert reusable(held, [*held[: 2 * CHUNK + 7], -1]) == 2 * CHUNK
    assert reusable(held, [*held[: CHUNK - 1], -1]) == 0
    assert reusable(held, [-1, *held]) == 0


def test_the_rows_of_a_partial_last_chunk_are_never_reused():
    """A prompt of 2.5 chunks leaves its half chunk evaluated in a short batch: a longer prompt re-evaluates it."""
    held = tokens(2 * CHUNK + CHUNK // 2)
    assert reusable(held, held + tokens(CHUNK, 1000)) == 2 * CHUNK


def test_the_last_prompt_token_is_always_evaluated():
    held = tokens(4 * CHUNK)
    assert reusable(held, held) == 3 * CHUNK  # evaluating it gives the logits to sample from
    assert reusable(held, held[: 2 * CHUNK]) == CHUNK
    assert reusable(held, [*held, 7]) == 4 * CHUNK
    assert reusable([], held) == 0


def test_chunks_lie_on_the_fixed_grid():
    assert chunks(0, 2 * CHUNK + 3) == [(0, CHUNK), (CHUNK, 2 * CHUNK), (2 * CHUNK, 2 * CHUNK + 3)]
    assert chunks(CHUNK, 2 * CHUNK) == [(CHUNK, 2 * CHUNK)]
    with pytest.raises(ValueError):
        chunks(CHUNK + 1, 3 * CHUNK)


def test_shared_prefix_counts_leading_equal_tokens():
    assert shared_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert shared_prefix([1, 2], [1, 2, 3]) == 2
    assert shared_prefix([], [1]) == 0


def test_the_snapshot_covering_most_of_a_prompt_is_chosen():
    store = Snapshots(capacity=10_000)
    system = tokens(CHUNK)
    store.add(system + tokens(CHUNK, 100), b"a" * 10)  # a problem's prompt
    store.add(system + tokens(2 * CHUNK, 500), b"b" * 10)  # another problem's, longer
    length, found = store.best(system + tokens(CHUNK, 100) + [1, 2, 3])
    assert length == 2 * CHUNK and found is not None and found.tokens == tuple(system + tokens(CHUNK, 100))
    length, found = store.best(system + [-5] * CHUNK)
    assert length == CHUNK and found is not None  # the shared system prompt, from either
    assert store.best([-1] * 3 * CHUNK) == (0, None)


def test_a_snapshot_another_one_extends_is_not_kept_twice():
    store = Snapshots(capacity=10_000)
    short, long = tokens(CHUNK), tokens(3 * CHUNK)
    store.add(short, b"s")
    store.add(long, b"l" * 3)
    assert len(store) == 1 and store.size == 3  # the short one lives inside the long one
    store.add(short, b"s")
    assert len(store) == 1 and store.covers(short) and store.covers(long) and not store.covers(tokens(4 * CHUNK))


def test_least_recently_used_snapshots_go_first_past_the_capacity():
    store = Snapshots(capacity=25)
    a, b, c = (tokens(CHUNK, start) for start in (0, 1000, 2000))
    store.add(a, b"x" * 10)
    store.add(b, b"x" * 10)
    store.best([*a, 1])  # a is used again: b is now the oldest
    store.add(c, b"x" * 10)
    assert store.covers(a) and store.covers(c) and not store.covers(b)
    assert store.size == 20
    store.add(tokens(CHUNK, 3000), b"x" * 26)  # larger than the whole store: not kept
    assert store.size == 20 and len(store) == 2


def test_a_snapshot_holds_whole_chunks_only():
    with pytest.raises(ValueError):
        Snapshots(100).add(tokens(CHUNK + 1), b"x")
    with pytest.raises(ValueError):
        Snapshots(100).add([], b"x")
