"""Behaviour every sandbox mode shares (the default jail, the host fallback, the subprocess baseline): results,
limits, output cap, clean environment, process-group kill."""

import os
import random
import time

import pytest

from mathcodebench.sandbox import ExecStatus, Limits, create_sandbox

FAST = Limits(timeout_s=3, memory_mb=512)


@pytest.fixture(scope="module", params=["default", "host", "subprocess"])
def box(request):
    sandbox = create_sandbox(request.param, workers=1)
    yield sandbox
    sandbox.close()


def test_prints_and_exits_cleanly(box):
    r = box.run("import sympy\nprint(sympy.Rational(1, 3) + 1)\nprint('π ≈ 3.14')", FAST)
    assert r.status == ExecStatus.OK and r.exit_code == 0
    assert r.stdout == "4/3\nπ ≈ 3.14\n" and not r.truncated


def test_exception_traceback_names_the_program_not_the_scratch_dir(box):
    r = box.run("x = 1\ny = x / 0\n", FAST)
    assert r.status == ExecStatus.ERROR and r.exit_code == 1
    assert 'File "main.py", line 2' in r.stderr and "ZeroDivisionError" in r.stderr
    assert "mcb-" not in r.stderr


def test_exit_code_is_reported(box):
    r = box.run("import sys\nsys.exit(3)", FAST)
    assert r.status == ExecStatus.ERROR and r.exit_code == 3


def test_stdin_is_empty(box):
    r = box.run("import sys\nprint(repr(sys.stdin.read()))", FAST)
    assert r.stdout == "''\n"


def test_busy_loop_hits_the_time_limit(box):
    r = box.run("while True:\n    pass", Limits(timeout_s=1))
    assert r.status == ExecStatus.TIMEOUT and r.wall_s < 5


def test_sleeping_program_is_killed_at_the_wall_deadline(box):
    start = time.monotonic()
    r = box.run("import time\ntime.sleep(60)", Limits(timeout_s=1))
    assert r.status == ExecStatus.TIMEOUT and time.monotonic() - start < 5


def test_setsid_daemon_holding_the_pipe_does_not_block_the_harness(box):
    code = (
        "import os, time\ntry:\n    pid = os.fork()\nexcept OSError:\n    pid = 1\n"
        "if pid == 0:\n    os.setsid()\n    time.sleep(30)\nprint('parent done')"
    )
    start = time.monotonic()
    r = box.run(code, Limits(timeout_s=5))
    assert r.stdout == "parent done\n"
    assert time.monotonic() - start < 3


def test_huge_allocation_is_a_memory_failure(box):
    r = box.run("x = bytearray(50 * 10**9)", FAST)
    assert r.status == ExecStatus.MEMORY


def test_output_flood_is_cut_at_the_cap(box):
    r = box.run("while True:\n    print('x' * 1000)", Limits(timeout_s=5, output_bytes=100_000))
    assert r.status == ExecStatus.OUTPUT_LIMIT and r.truncated and len(r.stdout) == 100_000


def test_harness_environment_does_not_reach_the_program(box, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-value")
    r = box.run("import os\nprint(sorted(os.environ))\nprint(os.environ.get('OPENAI_API_KEY'))", FAST)
    assert "sk-secret-value" not in r.stdout and "OPENAI_API_KEY" not in r.stdout


def test_scratch_dir_is_wiped_and_private_per_run(box):
    first = box.run("import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())", FAST)
    assert first.status == ExecStatus.OK, first.stderr
    second = box.run("import os\nprint(os.path.exists('left.txt'), sorted(set(os.listdir('.')) - {'main.py'}))", FAST)
    assert second.stdout == "False []\n"
    box.run("print(3)", FAST)  # a fork server wipes a run's directory after the reply that follows its own
    assert not os.path.exists(os.path.join(first.stdout.strip(), "left.txt"))


def test_segfault_is_a_crash(box):
    r = box.run("import ctypes\nctypes.string_at(0)", FAST)
    assert r.status == ExecStatus.CRASH and r.signal == 11


def test_random_is_deterministic_unless_the_program_seeds_it(box):
    code = "import random\nprint(random.random())"
    assert box.run(code, FAST).stdout == box.run(code, FAST).stdout == f"{random.Random(0).random()}\n"
    seeded = "import random, time\nrandom.seed(time.time_ns())\nprint(random.random())"
    assert box.run(seeded, FAST).stdout != box.run(seeded, FAST).stdout
    if box.name != "subprocess":  # a fresh interpreter has not imported (so not seeded) numpy beforehand
        code = "import numpy\nprint(numpy.random.rand())"
        assert box.run(code, FAST).stdout == box.run(code, FAST).stdout


def test_a_program_runs_with_no_new_privileges(box):
    if box.name == "subprocess":
        pytest.skip("the subprocess mode is a baseline, not isolation")
    r = box.run("import ctypes\nprint(ctypes.CDLL(None).prctl(39, 0, 0, 0, 0))", FAST)  # PR_GET_NO_NEW_PRIVS
    assert r.stdout == "1\n", r.stderr


def test_numpy_and_sympy_work(box):
    code = (
        "import numpy as np, sympy as sp\nx = sp.symbols('x')\nprint(sp.solve(x**2 - 2, x), int(np.arange(10).sum()))"
    )
    r = box.run(code, FAST)
    assert r.stdout == "[-sqrt(2), sqrt(2)] 45\n", r.stderr


def test_modules_the_server_did_not_preimport_still_import(box):
    # The pitfall: a dropped uid may not read the interpreter's directory; only pre-imports would work.
    fresh = ["csv", "zlib", "sympy.crypto.crypto", "numpy.polynomial.hermite"]
    from mathcodebench.sandbox.server import PREIMPORT

    assert not set(fresh) & set(PREIMPORT)
    r = box.run(
        "import csv, zlib, sympy.crypto.crypto, numpy.polynomial.hermite\n"
        "from sympy.stats import Die, P\nprint(P(Die('d', 6) > 4), zlib.crc32(b'x'))",
        FAST,
    )
    assert r.stdout == "1/3 2363233923\n", r.stderr


def test_traceback_has_no_harness_frames(box):
    r = box.run("def f():\n    raise ValueError('bad')\nf()", FAST)
    assert r.stderr.startswith('Traceback (most recent call last):\n  File "main.py", line 3')
    assert "mathcodebench" not in r.stderr and "server.py" not in r.stderr
    assert r.stderr.strip().endswith("ValueError: bad")


def test_servers_started_from_a_thread_outlive_it(box):
    # bwrap's --die-with-parent (PDEATHSIG) once killed servers when the thread that started them exited.
    import threading

    fresh = create_sandbox(box.name if box.name != "subprocess" else "subprocess", workers=2)
    try:
        outputs = []
        threads = [
            threading.Thread(target=lambda: outputs.append(fresh.run("print(7)", FAST).stdout)) for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        time.sleep(0.2)
        assert outputs == ["7\n", "7\n"]
        assert [fresh.run("print(8)", FAST).stdout for _ in range(4)] == ["8\n"] * 4
    finally:
        fresh.close()
