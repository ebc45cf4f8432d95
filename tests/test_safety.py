"""The static unsafe-code classifier, --unsafe block, runtime denials and the report's statistic."""

import json
import subprocess
import sys

import pytest

from conftest import ScriptedModel, fenced, run_to_end
from mathcodebench.data import Problem
from mathcodebench.report import summarize
from mathcodebench.sandbox import Limits, create_sandbox
from mathcodebench.settings import Settings
from mathcodebench.solve import AttemptStatus, SolvePolicy, scan, solve

SAFE = [
    "import sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - 4, x))",
    "from math import *\nprint(gcd(84, 126))",
    "import itertools\nprint(sum(1 for p in itertools.permutations(range(5)) if p[0] < p[-1]))",
    "import sys\nsys.setrecursionlimit(10000)\nprint(1)",
    "from fractions import Fraction\nprint(Fraction(2, 3) + Fraction(1, 6))",
    "import numpy as np\nprint(np.linalg.det(np.array([[1, 2], [3, 4]])))",
    "class P:\n    def __init__(self, v):\n        self.v = v\n"
    "    def __repr__(self):\n        return str(self.v)\nprint(P(3))",
    "print(getattr(__import__('math') if False else 0, 'real', 0))".replace("__import__('math') if False else ", ""),
    "import random\nrandom.seed(1)\nprint(random.randint(1, 6))",
    "with open('notes.txt') as f:\n    pass",
]

UNSAFE = [
    ("import os\nos.system('ls')", "process", 2),
    ("import subprocess\nsubprocess.run(['id'])", "process", 1),
    ("from os import system as s\ns('x')", "process", 1),
    ("import socket\nsocket.create_connection(('example.com', 80))", "network", 1),
    ("import urllib.request\nurllib.request.urlopen('http://x')", "network", 1),
    ("open('out.txt', 'w').write('x')", "filesystem", 1),
    ("import shutil\nshutil.rmtree('/tmp/x')", "filesystem", 1),
    ("import os\nos.remove('x')", "filesystem", 2),
    ("from pathlib import Path\nPath('x').write_text('y')", "filesystem", 2),
    ("print(eval('1 + 1'))", "dynamic-code", 1),
    ("exec('print(1)')", "dynamic-code", 1),
    ("m = __import__('os')", "dynamic-code", 1),
    ("import importlib\nimportlib.import_module('os')", "dynamic-code", 1),
    ("print(().__class__.__bases__[0].__subclasses__())", "introspection", 1),
    ("print(globals())", "introspection", 1),
    ("name = '__glob' + 'als__'\nprint(getattr(print, name))", "introspection", 2),
    ("import os\nprint(os.environ['HOME'])", "system", 2),
    ("import ctypes\nctypes.CDLL(None)", "system", 1),
    ("import pickle\npickle.loads(b'')", "other", 1),
    ("x = input()", "other", 1),
]


@pytest.mark.parametrize("code", SAFE)
def test_safe_math_programs_are_not_flagged(code):
    assert scan(code) == []


@pytest.mark.parametrize("code,category,line", UNSAFE, ids=[u[1] + "-" + str(i) for i, u in enumerate(UNSAFE)])
def test_unsafe_programs_are_flagged_with_category_and_line(code, category, line):
    findings = scan(code)
    assert any(f.category.value == category and f.line == line for f in findings), findings


@pytest.mark.parametrize("garbage", ["((((", "\x00\x01", "def f(:\n", "x" * 100_000, "[" * 5000, "", "é = 1\nprint(é)"])
def test_garbage_never_raises(garbage):
    assert isinstance(scan(garbage), list)


PROBLEM = Problem(id="t/1", subject="Algebra", level=1, problem="What is 6 times 7?", answer="42")


@pytest.fixture(scope="module")
def box():
    sandbox = create_sandbox("default", workers=1)
    yield sandbox
    sandbox.close()


def test_block_refuses_flagged_code_and_says_why(box):
    model = ScriptedModel({"6 times 7": [fenced("import os\nos.system('echo 42')"), fenced("print(6 * 7)")]})
    policy = SolvePolicy(attempts=3, unsafe="block", limits=Limits(timeout_s=3))
    attempts = solve(PROBLEM, model, box, policy)
    assert [a.status for a in attempts] == [AttemptStatus.UNSAFE_BLOCKED, AttemptStatus.ANSWERED]
    assert attempts[0].exec_s == 0 and "os.system() (line 2)" in attempts[0].feedback


def test_report_mode_runs_flagged_code_and_records_the_sandbox_denial(box):
    code = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), 1)\nexcept OSError as e:\n    raise\n"
    model = ScriptedModel({"6 times 7": [fenced(code), fenced("print(42)")]})
    attempts = solve(PROBLEM, model, box, SolvePolicy(attempts=2, limits=Limits(timeout_s=3)))
    first = attempts[0]
    assert first.status == AttemptStatus.RUNTIME_ERROR and first.unsafe[0].category.value == "network"
    assert first.denied is not None and "PermissionError" in first.denied


def test_report_shows_the_unsafe_rate(db):
    script = {
        "What is the value of $3x + 7$": [fenced("import os\nprint(os.environ.get('HOME'))\nprint(22)")],
        "slope of the line": [fenced("print('2/3')")],
    }
    safety = summarize(run_to_end(Settings(model="scripted", limit=2, attempts=1), db, ScriptedModel(script))).safety
    assert (safety.programs, safety.flagged_programs, safety.problems, safety.flagged_problems) == (2, 1, 2, 1)
    assert safety.by_category == {"system": 1}
    r = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "report", str(db)], capture_output=True, text=True, timeout=60
    )
    assert "1 of 2 programs (50.0 %)" in r.stdout


def test_safety_scan_command(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("import os\nos.system('ls')\n")
    r = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "safety", "scan", str(program), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and json.loads(r.stdout)[0] == {"category": "process", "line": 2, "what": "os.system()"}
    program.write_text("print(1)\n")
    r = subprocess.run(
        [sys.executable, "-m", "mathcodebench.cli", "safety", "scan", str(program)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0 and "0 finding(s)" in r.stdout
