"""Prompts as data: the built-in solve-v1 template gives byte for byte the messages earlier runs were given; a
user's template and few-shot examples are used, stored with the run (text and hash), kept on resume whatever
the file says later, and named in reports; broken templates are one line before anything is written."""

import re
import subprocess
import sys

import pytest

from conftest import ScriptedModel, fenced, read, run_to_end
from mathcodebench import api
from mathcodebench.data import Problem
from mathcodebench.errors import UserError
from mathcodebench.report import summarize
from mathcodebench.settings import Settings
from mathcodebench.solve import load_prompt

PROBLEM = Problem(id="p", subject="Algebra", level=1, problem="What is $1 + {{ 1 }}$?", answer="2")
SYSTEM_V1 = (
    "You are an expert competition mathematician and Python programmer. "
    "Solve the problem by writing one complete Python 3 program that computes the answer and prints it. "
    "The program must print only the final answer, on the last line, with no words around it. "
    "Prefer exact results: use sympy, fractions or integers rather than floating point, and print fractions "
    "as a/b, radicals with sqrt(...), and pi as pi. You may use the standard library, sympy and numpy. "
    "The program gets no input and has no network or file access. "
    "Reply with only the program in a single ```python code block: no explanation before or after it."
)
TEMPLATE = """{% block system %}Write Python.{% endblock %}
{% block user %}Q: {{ problem }}{% endblock %}
{% block retry %}Q: {{ problem }}
That failed: {{ feedback }}{% endblock %}
"""


def test_the_built_in_prompt_is_byte_identical_to_the_one_runs_were_given_before():
    v1 = load_prompt()
    assert v1.version == "solve-v1"
    first = [(m.role, m.content) for m in v1.first(PROBLEM)]
    assert first == [("system", SYSTEM_V1), ("user", "Problem:\nWhat is $1 + {{ 1 }}$?")]  # text, not a template
    retry = [(m.role, m.content) for m in v1.retry(PROBLEM, "Your program failed with NameError.")]
    assert retry == [
        ("system", SYSTEM_V1),
        (
            "user",
            "Problem:\nWhat is $1 + {{ 1 }}$?\n\nA previous program for "
            "this problem failed. Your program failed with NameError.\nWrite a new, complete program that "
            "avoids this failure, in one ```python code block. It must print only the final answer.",
        ),
    ]


def test_a_template_file_and_few_shot_examples(tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text(TEMPLATE)
    shots = tmp_path / "shots.jsonl"
    shots.write_text('{"problem": "What is 2 + 2?", "program": "print(4)"}\n')
    prompt = load_prompt(str(path), str(shots))
    assert prompt.version == f"mine@{prompt.hash[:12]}"
    assert [(m.role, m.content) for m in prompt.first(PROBLEM)] == [
        ("system", "Write Python."),
        ("user", "Q: What is 2 + 2?"),
        ("assistant", "```python\nprint(4)\n```"),
        ("user", "Q: What is $1 + {{ 1 }}$?"),
    ]
    assert prompt.retry(PROBLEM, "boom")[-1].content == "Q: What is $1 + {{ 1 }}$?\nThat failed: boom"
    assert load_prompt(str(path)).hash != prompt.hash  # the examples are part of the prompt


@pytest.mark.parametrize(
    "text,message",
    [
        ("{% block system %}x{% endblock %}", "needs the blocks system, user, retry (missing: user, retry)"),
        ("{% block system %}{{ x {% endblock %}", "prompt"),
        (
            "{% block system %}{{ ''.__class__.__mro__ }}{% endblock %}{% block user %}{% endblock %}"
            "{% block retry %}{% endblock %}",
            "unsafe",
        ),
    ],
)
def test_a_broken_template_is_one_line(tmp_path, text, message):
    path = tmp_path / "bad.j2"
    path.write_text(text)
    with pytest.raises(UserError, match=re.escape(message)):
        load_prompt(str(path))


def test_bad_prompt_or_shots_stop_the_cli_before_anything_is_written(tmp_path):
    db = tmp_path / "run.sqlite"
    bad_shots = tmp_path / "shots.jsonl"
    bad_shots.write_text('{"problem": "x"}\n')
    for args, message in (
        (["--prompt", "nope-v9"], "not a built-in prompt (solve-v1, tir-v1)"),
        (["--shots", str(bad_shots)], "shots.jsonl:1: a few-shot example needs"),
    ):
        r = subprocess.run(
            [sys.executable, "-m", "mathcodebench.cli", "run", "--db", str(db), *args],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not db.exists()


def test_the_prompt_is_stored_used_kept_on_resume_and_named_in_reports(tmp_path):
    path = tmp_path / "mine.j2"
    path.write_text(TEMPLATE)
    settings = Settings(model="scripted", limit=2, attempts=1, prompt=str(path))
    interrupted = ScriptedModel({"3x + 7": [fenced("print(22)")], "slope": [KeyboardInterrupt()]})
    db = tmp_path / "run.sqlite"
    with pytest.raises(KeyboardInterrupt), api.start(settings, db, model=interrupted) as run:
        run.execute()
    assert interrupted.seen[0][0].content == "Write Python." and interrupted.seen[0][1].content.startswith("Q: ")
    path.write_text(TEMPLATE.replace("Write Python.", "Something else."))  # the file changes afterwards
    later = ScriptedModel({"slope": [fenced("print('2/3')")]})
    with api.resume(db, model=later) as run:
        run.execute()
    assert later.seen[0][0].content == "Write Python."  # the run's own prompt, as stored
    data = read(db)
    stored = data.record.recorded.prompt
    assert stored is not None and stored.text == TEMPLATE and data.record.recorded.prompt_version.startswith("mine@")
    baseline = run_to_end(
        Settings(model="scripted", limit=2, attempts=1),
        tmp_path / "v1.sqlite",
        ScriptedModel({"3x + 7": [fenced("print(22)")], "slope": [fenced("print('2/3')")]}),
    )
    labels = [summarize(d).label for d in (data, baseline)]
    assert labels == [f"scripted (prompt {data.record.recorded.prompt_version})", "scripted"]
    r = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "report", str(db), str(baseline.path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and f"(prompt {data.record.recorded.prompt_version})" in r.stdout
