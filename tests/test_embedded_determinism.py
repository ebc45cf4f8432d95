"""The embedded model's responses do not depend on what it computed before, on the order of calls, on the judge
being called in between, or on how many requests share a forward pass: proven bit for bit on the real model
(the tokens and the sha256 of every logits vector a token was chosen from), and end to end on stored runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import read, run_to_end
from mathcodebench.data import Problem
from mathcodebench.grading.judge import judge_messages
from mathcodebench.models import GenerationParams
from mathcodebench.models.embedded import EmbeddedModel
from mathcodebench.models.engine import Engine, Request
from mathcodebench.models.prefix_cache import reusable
from mathcodebench.models.weights import ensure_weights
from mathcodebench.settings import Settings
from mathcodebench.solve.prompts import DEFAULT

pytestmark = pytest.mark.model

PROBLEMS = [
    Problem(id="d/1", subject="Algebra", level=1, problem="What is the value of $3x + 7$ when $x = 5$?", answer="22"),
    Problem(
        id="d/2",
        subject="Geometry",
        level=2,
        problem="A right triangle has legs of length 2 and 3. "
        "What is the length of its hypotenuse? Express your answer in simplest radical form.",
        answer="\\sqrt{13}",
    ),
]
TOKENS = 12


@pytest.fixture(scope="module")
def renderer() -> EmbeddedModel:
    return EmbeddedModel("embedded")


@pytest.fixture(scope="module")
def requests(renderer: EmbeddedModel) -> list[Request]:
    """A problem's first attempt and its retry (they share the statement), another problem, two judge prompts
    (they share the rubric) and a long prompt past 512 tokens; greedy and seeded sampling alternate."""
    conversations = [
        DEFAULT.first(PROBLEMS[0]),
        judge_messages(PROBLEMS[0].problem, "22", "22\n"),
        DEFAULT.retry(PROBLEMS[0], "The program raised NameError: name 'x' is not defined (line 3)."),
        DEFAULT.first(PROBLEMS[1]),
        judge_messages(PROBLEMS[1].problem, "\\sqrt{13}", "3.605551275463989\n"),
        DEFAULT.first(PROBLEMS[1].model_copy(update={"problem": PROBLEMS[1].problem * 13})),
    ]
    engine = renderer.engine
    return [
        Request(
            engine.tokenize(renderer.render(c), bos=True, special=True),
            GenerationParams(max_tokens=TOKENS, temperature=0.7 * (i % 2), seed=i),
            digest=True,
        )
        for i, c in enumerate(conversations)
    ]


def responses(engine: Engine, requests: list[Request], order: list[int]) -> dict[int, tuple[tuple[int, ...], str]]:
    out = {}
    for i in order:
        result = engine.submit(requests[i])
        assert result.logits_sha256 is not None
        out[i] = (tuple(result.tokens), result.logits_sha256)
    return out


@pytest.fixture(scope="module")
def scratch() -> Engine:
    """The reference: every prompt evaluated from scratch, nothing reused."""
    return Engine(ensure_weights(), reuse=False)


@pytest.fixture(scope="module")
def from_scratch(scratch: Engine, requests: list[Request]) -> dict[int, tuple[tuple[int, ...], str]]:
    return responses(scratch, requests, list(range(len(requests))))


@pytest.fixture(scope="module")
def cached() -> Engine:
    return Engine(ensure_weights())


def test_the_long_prompt_spans_several_attention_blocks(requests: list[Request]) -> None:
    assert max(len(r.tokens) for r in requests) > 512 > min(len(r.tokens) for r in requests)


def test_cached_prefixes_in_any_order_give_the_responses_of_evaluation_from_scratch(
    cached: Engine, requests: list[Request], from_scratch: dict[int, tuple[tuple[int, ...], str]]
) -> None:
    for order in ([0, 1, 2, 3, 4], [4, 3, 1]):  # the second order starts from what the first left behind
        assert responses(cached, requests, order) == {i: from_scratch[i] for i in order}
    assert cached.stats.reused_tokens > 0


def test_a_retry_reuses_the_problem_statement_and_the_judge_its_rubric(requests: list[Request]) -> None:
    engine = Engine(ensure_weights())
    for first, then in ((0, 2), (1, 4)):  # first attempt -> retry; one judge prompt -> another
        engine.submit(Request(requests[first].tokens, GenerationParams(max_tokens=1)))
        reused = engine.submit(Request(requests[then].tokens, GenerationParams(max_tokens=1))).reused
        assert reused == reusable(requests[first].tokens, requests[then].tokens) > len(requests[then].tokens) // 2


def test_a_continuation_of_a_generated_response_matches_evaluation_from_scratch(
    cached: Engine, scratch: Engine, requests: list[Request], from_scratch: dict[int, tuple[tuple[int, ...], str]]
) -> None:
    """Token-by-token regeneration continues a prompt that ends in generated text: the generated rows in the cache
    were decoded one by one, so they must not be reused as if they were evaluated as prompt."""
    kept = list(from_scratch[0][0][: TOKENS // 2])
    continued = Request(requests[0].tokens + kept, GenerationParams(max_tokens=TOKENS), digest=True)
    cached.submit(requests[0])
    assert responses(cached, [continued], [0]) == responses(scratch, [continued], [0])


def test_decoding_several_requests_in_one_forward_pass_changes_no_bit(
    requests: list[Request], from_scratch: dict[int, tuple[tuple[int, ...], str]]
) -> None:
    """Eight at once: llama.cpp's tiled matmul would take over from 8 rows and change the result of every row."""
    engine = Engine(ensure_weights(), slots=8)
    order = [5, 3, 0, 1, 4, 2, 0, 3]
    with ThreadPoolExecutor(len(order)) as pool:
        results = list(pool.map(lambda i: responses(engine, requests, [i])[i], order))
    assert results == [from_scratch[i] for i in order]
    assert engine.stats.widest == 8


def _responses(db: object) -> dict[tuple[str, int, int], str]:
    data = read(db)  # type: ignore[arg-type]
    return {(pid, sample, a.number): a.response for (pid, sample), tried in data.attempts.items() for a in tried}


def test_a_study_run_twice_in_another_order_with_the_judge_in_between_stores_the_same_responses(tmp_path) -> None:
    """Run 1: one problem at a time, symbolic grading. Run 2: both problems in flight at once on a freshly loaded
    model that also judges every answer. The stored responses are byte-identical."""
    design = {"limit": 2, "attempts": 2, "max_tokens": 40}
    run_to_end(Settings(**design), tmp_path / "a.sqlite", EmbeddedModel("embedded"))
    judging = EmbeddedModel("embedded", concurrency=2)
    run_to_end(
        Settings(**design, concurrency=2, grading="judge", judge="embedded"),
        tmp_path / "b.sqlite",
        judging,
        judge=judging,
    )
    first, second = _responses(tmp_path / "a.sqlite"), _responses(tmp_path / "b.sqlite")
    assert first == second and len(first) >= 2
    assert read(tmp_path / "b.sqlite").grader("judge")  # the judge did grade in between
