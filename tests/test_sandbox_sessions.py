"""Sessions (`Sandbox.session`): one child held for the blocks of one solution, in the default mode (the jail
here), the host fallback and the subprocess baseline. State persists from block to block, each block has its own
output, status, wall and CPU time under the program limits, a block that ends the child ends the session, two
sessions never see each other's state (nor a program's), hostile blocks are contained as programs are, and
nothing is left behind once a session is closed."""

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from mathcodebench.sandbox import ExecStatus, Limits, SandboxError, create_sandbox
from mathcodebench.sandbox.block import run_block
from mathcodebench.sandbox.collect import OVER_CPU
from mathcodebench.sandbox.forkserver import ForkServerSandbox, _descendants
from test_sandbox_attacks import (
    MATH,
    MATH_OUT,
    _files_left,
    _servers,
    _sysv_objects,
    all_refused,
    outcomes,
    per_server,
)

LIMITS = Limits(timeout_s=5, memory_mb=1024)
ENDED = "SessionEnded: "


@pytest.fixture(scope="module", params=["default", "host", "subprocess"])
def box(request):
    sandbox = create_sandbox(request.param, workers=2)
    yield sandbox
    sandbox.close()


def forks(box) -> bool:
    return isinstance(box, ForkServerSandbox)


@contextlib.contextmanager
def opened(box, limits=LIMITS):
    session = box.session(limits)
    try:
        yield session
    finally:
        session.close()


def ok(session, code: str) -> str:
    r = session.run(code)
    assert r.status == ExecStatus.OK, (r.status, r.stderr)
    return r.stdout


def _pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def nothing_left(box):
    """Around a session's life: once it is closed no process, IPC object or file of it is left anywhere in the
    sandbox's directories (fork servers), or its interpreter, what it started and its scratch directory are gone
    (subprocess)."""
    seen: dict[str, list] = {"pids": [], "dirs": []}  # what the session's blocks said they are and made
    ipc = {pid: _sysv_objects(pid) for pid in _servers(box)} if forks(box) else {}
    yield seen
    if forks(box):
        expected = len(box._live) * per_server(box)
        deadline = time.monotonic() + 5
        while len(box.processes()) != expected and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(box.processes()) == expected, "a process outlived its session"
        assert {pid: _sysv_objects(pid) for pid in ipc} == ipc, "an IPC object outlived its session"
        assert _files_left(box) == [], "a file outlived its session"
    else:  # the interpreter is reaped by close(); what it forked is killed with its group and dies soon after
        deadline = time.monotonic() + 5
        while any(_pid_alive(pid) for pid in seen["pids"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not [pid for pid in seen["pids"] if _pid_alive(pid)], "a process outlived its session"
        assert not [d for d in seen["dirs"] if os.path.exists(d)], "its scratch directory outlived its session"
    assert box.run(MATH, LIMITS).stdout == MATH_OUT, "the sandbox still works"


# --- state, output, statuses -------------------------------------------------------------------------------------


def test_state_persists_from_block_to_block(box):
    with opened(box) as s:
        assert ok(s, "import sympy as sp\nx = sp.symbols('x')\nroots = sp.solve(x**2 - 2, x)") == ""
        assert ok(s, "def double(v):\n    return 2 * v\nopen('kept.txt', 'w').write('7')") == ""
        assert ok(s, "print(roots, double(21), open('kept.txt').read(), sp.Rational(1, 3) + 1)") == (
            "[-sqrt(2), sqrt(2)] 42 7 4/3\n"
        )


def test_random_is_seeded_once_per_session(box):
    draws = []
    for _ in range(2):
        with opened(box) as s:
            draws.append([ok(s, "import random\nprint(random.random())") for _ in range(3)])
    assert draws[0] == draws[1], "every session starts from the same state"
    assert len(set(draws[0])) == 3, "the blocks of one session go on drawing, they are not re-seeded"


def test_an_exception_is_reported_and_the_next_block_still_runs(box):
    with opened(box) as s:
        ok(s, "total = 1")
        r = s.run("total += 1\nprint('before')\nprint(undefined_name)\ntotal += 100")
        assert r.status == ExecStatus.ERROR and r.exit_code == 1 and r.stdout == "before\n"
        assert r.stderr.startswith('Traceback (most recent call last):\n  File "block2.py", line 3, in <module>\n')
        assert "    print(undefined_name)\n" in r.stderr, "the failing line is shown"
        assert r.stderr.strip().endswith("NameError: name 'undefined_name' is not defined")
        assert "mathcodebench" not in r.stderr and "runner.py" not in r.stderr
        assert ok(s, "print(total)") == "2\n", "what ran before the exception is kept"


def test_each_block_has_its_own_output(box):
    with opened(box) as s:
        first = s.run("import sys\nprint('one')\nprint('warn one', file=sys.stderr)\nprint('no newline', end='')")
        assert (first.stdout, first.stderr) == ("one\nno newline", "warn one\n")
        second = s.run("print('two')")
        assert (second.stdout, second.stderr) == ("two\n", "")
        big = s.run("import sys\nsys.stdout.write('x' * 300_000)\nsys.stderr.write('y' * 200_000)")
        assert (len(big.stdout), len(big.stderr)) == (300_000, 200_000), "more than a pipe holds, all of it"
        assert ok(s, "pass") == ""


def test_a_long_block_is_handed_over_whole(box):
    code = "values = [\n" + "".join(f"    {i},\n" for i in range(60_000)) + "]\nprint(sum(values))"
    assert len(code) > 4 * 65536  # several times what a pipe holds
    with opened(box) as s:
        assert ok(s, code) == f"{sum(range(60_000))}\n"
        assert ok(s, "print(len(values))") == "60000\n"


def test_a_timeout_ends_the_session_and_later_blocks_say_so(box):
    limits = Limits(timeout_s=1, memory_mb=1024)
    with opened(box, limits) as s:
        for _ in range(3):  # the time limit is per block: three blocks together run longer than one may
            ok(s, "import time\ntime.sleep(0.4)")
        started = time.monotonic()
        r = s.run("import time\ntime.sleep(30)")
        assert r.status == ExecStatus.TIMEOUT and time.monotonic() - started < 5
        for _ in range(2):
            later = s.run("print('never')")
            assert later.status == ExecStatus.ERROR and later.stdout == ""
            assert later.stderr.startswith(ENDED) and "block 4 ended the session (timeout)" in later.stderr


def test_cpu_time_is_limited_per_block_not_per_session(box):
    # RLIMIT_CPU counts a process's whole life; a session's blocks together may use far more CPU than one.
    limits = Limits(timeout_s=2, memory_mb=1024)
    spin = (  # well within the block's limits, however loaded the machine is
        "import time\nstart, wall = time.process_time(), time.monotonic()\n"
        "while time.process_time() - start < 0.5 and time.monotonic() - wall < 0.8:\n    pass\n"
        "print(time.process_time())"
    )
    budget = int(limits.timeout_s) + 1  # a program's CPU limit
    with opened(box, limits) as s:
        used = 0.0
        for _ in range(100):
            r = s.run(spin)
            assert r.status == ExecStatus.OK, (r.status, used, r.stderr[-200:])
            used = float(r.stdout)
            if used > budget + 0.5:
                break
        assert used > budget + 0.5


def test_a_block_cannot_lift_its_cpu_limit(box):
    """The CPU watch is the server's (or harness's), not the child's: a block that raises its own RLIMIT_CPU is
    stopped all the same. Here the measured CPU time is made to pass the budget at once."""
    if forks(box):
        pytest.skip("the watch's reading is injected in the process that runs the block: the subprocess mode's")
    with opened(box, Limits(timeout_s=5)) as s:
        readings = iter([0.0, 0.0, 100.0])
        lift = (
            "import resource\ntry:\n    resource.setrlimit(resource.RLIMIT_CPU, (-1, -1))\n"
            "except ValueError:\n    pass\n"
        )
        got, _ = run_block(
            s._held,
            lift + "while True:\n    pass",
            Limits(timeout_s=5),
            lambda: next(readings, 100.0),
        )
        assert got.stopped == OVER_CPU and got.block_status is None and got.wall_s < 4


def test_memory_is_bounded_for_the_whole_session(box):
    with opened(box) as s:
        first = s.run("kept = bytearray(400 * 2**20)\nprint(len(kept))")
        assert first.status == ExecStatus.OK and first.peak_memory_mb > 350, (first.status, first.peak_memory_mb)
        r = s.run("more = bytearray(700 * 2**20)")
        assert r.status == ExecStatus.MEMORY, (r.status, r.stderr[-300:])
        assert s.run("print(len(kept))").stderr.startswith(ENDED)


def test_a_memory_error_caught_or_not_ends_the_session(box):
    with opened(box) as s:
        r = s.run("x = bytearray(50 * 10**9)")
        assert r.status == ExecStatus.MEMORY
        assert "block 1 ended the session (memory)" in s.run("print(1)").stderr


def test_the_output_limit_ends_the_session(box):
    with opened(box, Limits(timeout_s=5, output_bytes=100_000)) as s:
        ok(s, "n = 1")
        r = s.run("while True:\n    print('x' * 1000)")
        assert r.status == ExecStatus.OUTPUT_LIMIT and r.truncated and len(r.stdout) == 100_000
        assert s.run("print(n)").stderr.startswith(ENDED)


@pytest.mark.parametrize(
    "code,status,exit_code", [("raise SystemExit(3)", ExecStatus.ERROR, 3), ("raise SystemExit", ExecStatus.OK, 0)]
)
def test_system_exit_ends_the_session_like_an_exit(box, code, status, exit_code):
    with opened(box) as s:
        ok(s, "import atexit\natexit.register(print, 'at exit')")
        r = s.run(code)
        assert (r.status, r.exit_code, r.stdout) == (status, exit_code, "at exit\n")
        assert s.run("print(1)").stderr.startswith(ENDED)


def test_a_crash_ends_the_session(box):
    with opened(box) as s:
        ok(s, "import ctypes")
        r = s.run("ctypes.string_at(0)")
        assert r.status == ExecStatus.CRASH and r.signal == signal.SIGSEGV
        assert "(crash)" in s.run("print(1)").stderr


def test_nothing_runs_between_blocks(box):
    # The child is stopped while the model writes its next block: a thread it started does not run meanwhile.
    with opened(box) as s:
        started = ok(
            s,
            "import threading, time\nticks = []\ndef tick():\n    while True:\n        ticks.append(1)\n"
            "        time.sleep(0.01)\nthreading.Thread(target=tick, daemon=True).start()\ntime.sleep(0.2)\n"
            "print(len(ticks))",
        )
        time.sleep(1.0)  # ~100 ticks if the thread ran
        later = ok(s, "print(len(ticks))")
        assert int(later) - int(started) < 10, (started, later)


# --- isolation and leftovers ---------------------------------------------------------------------------------------


def test_two_sessions_are_isolated_from_each_other_and_from_programs(box):
    probe = (  # a program run by the subprocess mode is the file main.py in its directory
        "import os\nfound = [n for n in ('secret_a', 'secret_b', 'secret_program') if n in globals()]\n"
        "print(found, sorted(set(os.listdir('.')) - {'main.py'}))"
    )
    with opened(box) as a:
        ok(a, "secret_a = 1\nopen('file_a', 'w').write('a')")
        program = box.run("secret_program = 1\nopen('file_program', 'w').write('p')\nprint('ran')", LIMITS)
        assert program.stdout == "ran\n"
        with opened(box) as b:
            assert ok(b, probe) == "[] []\n"
            ok(b, "secret_b = 1\nopen('file_b', 'w').write('b')")
            assert ok(a, probe) == "['secret_a'] ['file_a']\n"
            assert ok(b, probe) == "['secret_b'] ['file_b']\n"
    with opened(box) as c:
        assert ok(c, probe) == "[] []\n"
    assert box.run(probe, LIMITS).stdout == "[] []\n"


def test_nothing_is_left_after_close(box):
    with nothing_left(box) as seen, opened(box) as s:
        pid, cwd = json.loads(ok(s, "import os, json\nprint(json.dumps([os.getpid(), os.getcwd()]))"))
        seen["pids"].append(pid)
        seen["dirs"].append(cwd)
        ok(s, "import os\nos.makedirs('a/b/c')\nopen('a/b/c/f', 'w').write('x' * 10000)\nos.mkfifo('fifo')")
        if not forks(box):  # the baseline lets a block fork: what it started goes with its session
            forked = "import os, time\npid = os.fork()\nif pid == 0:\n    time.sleep(60)\nprint(pid)"
            seen["pids"].append(int(ok(s, forked)))


def test_close_twice_and_after_the_child_died(box):
    with nothing_left(box):
        s = box.session(LIMITS)
        assert s.run("import os\nos._exit(9)").exit_code == 9
        assert s.run("print(1)").stderr.startswith(ENDED)
        s.close()
        s.close()
        with pytest.raises(SandboxError, match="closed"):
            s.run("print(1)")
    with nothing_left(box):
        s = box.session(LIMITS)
        ok(s, "x = 1")
        s.close()
        s.close()


# --- hostile blocks, and the session's own protocol ---------------------------------------------------------------


def fork_servers_only(box) -> None:
    if not forks(box):
        pytest.skip("the subprocess mode is a baseline, not isolation")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_hostile_blocks_are_contained_as_programs_are(box, tmp_path):
    fork_servers_only(box)
    os.chmod(tmp_path, 0o777)
    outside = tmp_path / "outside"
    outside.write_text("keep")
    os.chmod(outside, 0o666)
    with nothing_left(box), opened(box) as s:
        ok(s, "state = 'kept'")
        servers = _servers(box)
        zygotes = [pid for pid in box.processes() if _parent(pid) in servers]
        # Their pids as the child sees them: the host's, or in the jail its own PID namespace's (1 is its init).
        targets = sorted(set(range(1, 11)) | (set() if box.jailed else {*servers, *zygotes}))
        lines = [
            "fork: os.fork()",
            "subprocess: __import__('subprocess').run(['id'])",
            "tcp: socket.create_connection(('127.0.0.1', 22), 1)",
            "unix socket: socket.socket(socket.AF_UNIX).connect('/dev/log')",
            f"write outside: open({str(outside)!r}, 'a').write('x')",
            f"chmod outside: os.chmod({str(outside)!r}, 0o777)",
            "read the harness: open('/proc/1/environ', 'rb').read()",
            "sysv queue: libc.msgget(0, 0o1600)",
            "kill the zygote: os.kill(os.getppid(), 9)",
            "stop the zygote: os.kill(os.getppid(), 19)",
        ]
        own = int(ok(s, "import os\nprint(os.getpid())"))
        for pid in targets:
            if pid != own:
                lines += [
                    f"kill {pid}: os.kill({pid}, 9)",
                    f"stop {pid}: os.kill({pid}, 19)",
                    f"prlimit {pid}: resource.prlimit({pid}, resource.RLIMIT_NOFILE, (4, 4))",
                ]
        all_refused(s.run(outcomes("\n".join(lines))))
        assert ok(s, "print(state)") == "kept\n"
        assert outside.read_text() == "keep" and oct(outside.stat().st_mode & 0o777) == "0o666"
        for pid in servers + zygotes:
            assert _pid_alive(pid) and Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "T"


def test_forged_block_ends_confuse_only_their_own_session(box):
    fork_servers_only(box)
    # A block can write to the descriptors its child holds (it may pose as its own end, or close them): that
    # only confuses its own session; the server, other sessions and programs are unaffected.
    forge = (
        "import os, time\nfor fd in range(3, 64):\n    try:\n        os.write(fd, bytes(64))\n    except OSError:\n"
        "        pass\ntime.sleep(0.3)\nprint('done')"
    )
    with nothing_left(box), opened(box) as other:
        ok(other, "mine = 1")
        with opened(box) as s:
            for _ in range(3):
                s.run(forge)
            s.run(
                "import os\nfor fd in range(3, 64):\n    try:\n        os.close(fd)\n    except OSError:\n        pass"
            )
            s.run("print(1)")
        assert ok(other, "print(mine)") == "1\n"
        assert box.run("print(6 * 7)", LIMITS).stdout == "42\n"


def test_a_server_that_dies_mid_session_fails_that_block_and_every_later_one(box):
    fork_servers_only(box)
    s = box.session(LIMITS)
    ok(s, "x = 1")

    def kill() -> None:  # the session's server and all it started, listed as they are now
        for pid in _descendants([s._server.proc.pid]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    killer = threading.Timer(0.3, kill)
    killer.start()
    with pytest.raises(SandboxError, match="not replayed"):
        s.run("import time\ntime.sleep(3)\nprint(x)")
    killer.join()
    with pytest.raises(SandboxError, match="lost at block 2"):
        s.run("print(x)")
    s.close()
    s.close()
    with opened(box) as fresh:
        assert ok(fresh, "print('fresh')") == "fresh\n"


def test_a_session_holds_its_server_until_closed():
    box = create_sandbox("host", workers=1)
    try:
        s = box.session(LIMITS)
        ok(s, "x = 1")
        results: list[str] = []
        waiting = threading.Thread(target=lambda: results.append(box.run("print('program')", LIMITS).stdout))
        waiting.start()
        waiting.join(1.0)
        assert results == [], "the server serves nothing else while a session holds it"
        assert ok(s, "print(x)") == "1\n"
        s.close()
        waiting.join(10)
        assert results == ["program\n"]
    finally:
        box.close()


def test_closing_the_sandbox_fails_an_open_session():
    box = create_sandbox("host", workers=1)
    s = box.session(LIMITS)
    ok(s, "x = 1")
    box.close()
    with pytest.raises(SandboxError):
        s.run("print(x)")
    s.close()
    with pytest.raises(SandboxError, match="closed"):
        box.session(LIMITS)


@pytest.mark.parametrize("mode", ["strict", "unsafe-root"] if os.geteuid() == 0 else ["strict"])
def test_every_fork_server_mode_has_sessions(mode):
    box = create_sandbox(mode, workers=1)
    try:
        with opened(box) as s:
            ok(s, "import os\nuid = os.getuid()\nvalue = 41")
            assert s.run("value += undefined").status == ExecStatus.ERROR
            assert ok(s, "print(value + 1, uid == 0)") == f"42 {mode == 'unsafe-root'}\n"
            all_refused(s.run(outcomes("fork: os.fork()\nwrite outside: open('/tmp/mcb-session-escape', 'w')")))
    finally:
        box.close()
