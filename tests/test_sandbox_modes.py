"""Which mode a sandbox request resolves to and why, the isolation record, `sandbox check`, and what happens
when a fork server dies or stops answering (retried once on a fresh server, then SandboxError)."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mathcodebench.errors import UserError
from mathcodebench.sandbox import (
    Isolation,
    Limits,
    SandboxError,
    create_sandbox,
    forkserver,
    jail,
)
from mathcodebench.sandbox.identity import LANES
from mathcodebench.sandbox.layers import capabilities
from mathcodebench.sandbox.selftest import PROBES

ROOT = os.geteuid() == 0
FAST = Limits(timeout_s=5)
CLI = str(Path(sys.executable).parent / "mathcodebench")


EFFECTIVE = "from mathcodebench.sandbox.layers.capabilities import effective\nprint(effective())"  # pre-imported


def _uids(box) -> str:
    return box.run("import os\nprint(os.getuid(), os.geteuid(), os.getgid())", FAST).stdout


@pytest.mark.skipif(not ROOT, reason="the jail starts as root here; unprivileged user namespaces are not tested")
def test_default_is_the_jail_here():
    box = create_sandbox("default", workers=1)
    try:
        assert (box.requested, box.name, box.reason) == ("default", "strong", "bubblewrap jail started")
        assert any(layer.startswith("bubblewrap jail") for layer in box.layers) and box.missing == []
        assert "0" not in _uids(box).split()
    finally:
        box.close()


def test_host_runs_programs_with_an_unprivileged_uid():
    box = create_sandbox("host", workers=1)
    try:
        assert box.name == "host" and box.reason.startswith("requested: host mode with uid")
        assert "0" not in _uids(box).split()
        assert any("jail" in m for m in box.missing)
        only_read_search = any("+CAP_DAC_READ_SEARCH" in layer for layer in box.layers)
        assert box.run(EFFECTIVE, FAST).stdout == ("4\n" if only_read_search else "0\n")
    finally:
        box.close()


@pytest.mark.skipif(not ROOT, reason="uid 0 is only possible as root")
def test_unsafe_root_is_explicit_and_says_so():
    box = create_sandbox("unsafe-root", workers=1)
    try:
        assert _uids(box).split() == ["0", "0", "0"]
        assert "unsafe-root" in box.reason and any(
            layer.startswith("uid 0 without capabilities") for layer in box.layers
        )
        assert any(m.startswith("unprivileged uid") for m in box.missing)
        assert box.run(EFFECTIVE, FAST).stdout == "0\n", "no capabilities"
    finally:
        box.close()


def test_unknown_mode_is_a_user_error():
    with pytest.raises(UserError, match="unknown sandbox mode"):
        create_sandbox("bogus")


@pytest.fixture
def no_jail(monkeypatch):
    """A machine where bubblewrap cannot start (no user namespaces, no CAP_SYS_ADMIN)."""
    monkeypatch.setattr(jail, "bwrap_binary", lambda: "/bin/false")


def test_default_falls_back_to_host_where_the_jail_cannot_start(no_jail):
    box = create_sandbox("default", workers=1)
    try:
        assert box.name == "host" and box.reason.startswith("jail unavailable (sandbox server 0 did not start")
        assert "): host mode with uid" in box.reason and "\n" not in box.reason
        assert box.run("print(6 * 7)", FAST).stdout == "42\n"
    finally:
        box.close()
    for mode in ("strong", "strict"):
        with pytest.raises(UserError, match=f"--sandbox {mode}: the bubblewrap jail cannot start here") as caught:
            create_sandbox(mode, workers=1)
        assert "\n" not in str(caught.value)


@pytest.mark.skipif(not ROOT, reason="simulates a root process that cannot run programs as another uid")
def test_where_only_uid_0_is_possible_the_fallback_refuses(no_jail, monkeypatch):
    monkeypatch.setattr("mathcodebench.sandbox.identity.readable_by_others", lambda path: False)
    monkeypatch.setattr(capabilities, "effective", lambda: 1 << 6 | 1 << 7 | 1 << 8)  # SETGID, SETUID, SETPCAP only
    for mode in ("default", "host"):
        with pytest.raises(UserError, match="--sandbox unsafe-root") as caught:
            create_sandbox(mode, workers=1)
        assert "\n" not in str(caught.value) and "CAP_DAC_READ_SEARCH" in str(caught.value)
    box = create_sandbox("unsafe-root", workers=1)
    try:
        assert _uids(box).split() == ["0", "0", "0"]
    finally:
        box.close()


@pytest.mark.parametrize("mode", ["default", "host", "subprocess"])
def test_isolation_record(mode):
    box = create_sandbox(mode, workers=1)
    try:
        started = time.monotonic()
        isolation = box.isolation()
        elapsed = time.monotonic() - started
    finally:
        box.close()
    assert isinstance(isolation, Isolation) and elapsed < 30
    assert (isolation.requested, isolation.mode, isolation.reason) == (mode, box.name, box.reason)
    assert isolation.layers == box.layers and isolation.missing == box.missing
    assert isolation.node == socket.gethostname()
    assert [p.name for p in isolation.self_test] == [p.name for p in PROBES]
    assert isolation.passed == (mode != "subprocess"), [p for p in isolation.self_test if not p.passed]
    assert Isolation.model_validate_json(isolation.model_dump_json()) == isolation


def test_sandbox_check_command():
    done = subprocess.run([CLI, "sandbox", "check"], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("--sandbox default: programs run in mode ")
    if ROOT:
        assert "mode strong" in first and "(bubblewrap jail started)" in first
    assert done.stdout.count("pass ") == len(PROBES) and "FAIL" not in done.stdout
    failing = subprocess.run(
        [CLI, "sandbox", "check", "--sandbox", "subprocess"], capture_output=True, text=True, timeout=120, check=False
    )
    assert failing.returncode == 1 and "FAIL" in failing.stdout and "network refused" in failing.stdout


def _servers_of(box) -> list[int]:
    """This sandbox's server processes (in the jail: bwrap, the process the harness started)."""
    return [s.proc.pid for s in list(box._idle.queue)]


def _alive(pid: int) -> bool:
    """Running, sleeping or stopped; not a zombie (on the host, orphans go to PID 1, which may reap them late)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill_soon(pids: list[int], after_s: float) -> threading.Thread:
    def kill() -> None:
        time.sleep(after_s)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    thread = threading.Thread(target=kill)
    thread.start()
    return thread


@pytest.mark.parametrize("mode", ["default", "host"])
def test_a_server_that_dies_mid_run_is_replaced_and_the_program_retried(mode):
    box = create_sandbox(mode, workers=1)
    try:
        first = _servers_of(box)
        killer = _kill_soon(box.processes(), 0.3)
        r = box.run("import time\ntime.sleep(0.6)\nprint('done')", FAST)
        killer.join()
        assert r.stdout == "done\n"
        assert _servers_of(box) != first
    finally:
        box.close()


def test_two_failures_in_a_row_are_a_sandbox_error():
    box = create_sandbox("host", workers=1)
    stop = threading.Event()

    def keep_killing() -> None:  # every server of this sandbox, busy or starting
        while not stop.is_set():
            for pid in _children_running(box.root):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pid, signal.SIGKILL)
            time.sleep(0.2)

    killer = threading.Thread(target=keep_killing)
    try:
        killer.start()
        with pytest.raises(SandboxError):
            box.run("import time\ntime.sleep(3)\nprint('never')", FAST)
    finally:
        stop.set()
        killer.join()
    assert box.run("print('recovered')", FAST).stdout == "recovered\n"
    box.close()


def _children_running(root: str) -> list[int]:
    """Servers started by this process for the sandbox at `root` (busy ones are not in the idle queue)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes()
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue
            if ppid == os.getpid() and b"mathcodebench.sandbox.server" in argv and root.encode() in argv:
                found.append(int(entry))
    return found


@pytest.mark.parametrize("mode", ["default", "host"])
def test_a_server_that_stops_answering_is_replaced_and_killed_with_all_it_started(mode, monkeypatch):
    monkeypatch.setattr(forkserver, "SERVER_GRACE_S", 1.0)
    box = create_sandbox(mode, workers=1)
    try:
        first = _servers_of(box)
        old = box.processes()
        for pid in old:  # the server and everything it started stop answering
            os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        r = box.run("print('answered')", Limits(timeout_s=1))
        assert r.stdout == "answered\n" and 2 <= time.monotonic() - started < 10
        assert _servers_of(box) != first
        time.sleep(0.2)
        assert not [pid for pid in old if _alive(pid)], "the wedged server's processes are gone"
    finally:
        box.close()


def test_exec_prints_json_for_a_hostile_program(tmp_path):
    program = tmp_path / "p.py"
    program.write_text("import os\nos.fork()")
    done = subprocess.run(
        [CLI, "sandbox", "exec", str(program), "--json"], capture_output=True, text=True, timeout=120, check=False
    )
    result = json.loads(done.stdout)
    assert result["status"] == "error" and "PermissionError" in result["stderr"]


@pytest.mark.parametrize("mode", ["default", "host"])
def test_close_while_a_program_runs_stops_every_server(mode):
    box = create_sandbox(mode, workers=2)
    outcome: list[object] = []

    def busy() -> None:
        try:
            outcome.append(box.run("import time\ntime.sleep(30)", Limits(timeout_s=60)))
        except SandboxError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=busy)
    thread.start()
    time.sleep(1.0)
    processes = box.processes()  # the server, its zygotes (one per lane), the sleeping child and the next
    assert len(processes) == 2 + LANES + 1 + (2 if box.jailed else 0)  # in the jail also bwrap and its init
    box.close()
    thread.join(10)
    assert not thread.is_alive() and isinstance(outcome[0], SandboxError)
    assert not [pid for pid in processes if _alive(pid)]
    with pytest.raises(SandboxError, match="closed"):
        box.run("print(1)", FAST)
