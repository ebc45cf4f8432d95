"""Hostile programs against the fork-server sandbox, plain (`default`) and inside bubblewrap (`strong`):
each must be contained, leave no process behind, and leave the sandbox usable. Layers that need root (netns, dropped capabilities) are asserted
only as root; containment itself is asserted everywhere."""

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from mathcodebench.sandbox import ExecStatus, Limits, create_sandbox

LIMITS = Limits(timeout_s=3, memory_mb=1024)
ROOT = os.geteuid() == 0
CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["default", "strong"])
def box(request):
    sandbox = create_sandbox(request.param, workers=1)
    sandbox.run("print(0)", LIMITS)
    sandbox.baseline = _descendants(sandbox)  # the server (and, in strong mode, bwrap's own processes)
    yield sandbox
    sandbox.close()


def _descendants(box) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found = {s.proc.pid for s in list(box._idle.queue)}
    while True:
        more = {pid for pid, ppid in parents.items() if ppid in found} - found
        if not more:
            return found
        found |= more


def run(box, code, limits=LIMITS):
    result = box.run(code, limits)
    time.sleep(0.05)
    assert _descendants(box) == box.baseline, "a process outlived its run"
    assert box.run("print('alive')", LIMITS).stdout == "alive\n", "the sandbox is still usable"
    return result


def refused(body: str) -> str:
    return f"try:\n    {body}\n    print('escaped')\nexcept OSError as e:\n    print('refused', e.errno)\n"


def test_layers_are_reported(box):
    assert "seccomp" in box.layers and any(layer.startswith("landlock") for layer in box.layers)
    assert any(layer.startswith("bwrap") for layer in box.layers) == (box.name == "strong")
    if ROOT:
        assert "netns" in box.layers
        assert any(layer.startswith("uid") for layer in box.layers) or "no-capabilities" in box.layers


def test_busy_loop(box):
    r = run(box, "while True:\n    pass", Limits(timeout_s=1))
    assert r.status == ExecStatus.TIMEOUT and r.wall_s < 4


def test_sleep(box):
    r = run(box, "import time\ntime.sleep(1000)", Limits(timeout_s=1))
    assert r.status == ExecStatus.TIMEOUT and r.wall_s < 3


def test_fork_bomb(box):
    r = run(box, "import os\nwhile True:\n    os.fork()")
    assert r.status == ExecStatus.ERROR and "PermissionError" in r.stderr


def test_subprocess_and_setsid_daemon(box):
    r = run(box, refused("import subprocess; subprocess.run(['id'])"))
    assert r.stdout.startswith("refused")
    r = run(box, refused("import os; pid = os.fork(); os.setsid() if pid == 0 else None"))
    assert r.stdout.startswith("refused")


def test_huge_allocation(box):
    assert run(box, "x = bytearray(50 * 10**9)").status == ExecStatus.MEMORY


def test_gradual_growth(box):
    r = run(box, "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 2**20))")
    assert r.status == ExecStatus.MEMORY


def test_peak_memory_is_the_childs_own(box):
    r = run(box, "x = bytearray(300 * 2**20)\nprint(len(x))")
    assert r.status == ExecStatus.OK and 250 < r.peak_memory_mb < 400


def test_ten_gigabyte_file(box):
    code = "with open('big', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)"
    r = run(box, code)
    assert r.status == ExecStatus.ERROR and "File too large" in r.stderr


def test_cannot_raise_own_limits(box):
    code = ("import resource\ntry:\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n    print('raised')\n"
            "except (OSError, ValueError):\n    print('refused')")
    assert run(box, code).stdout == "refused\n"


def test_write_outside_scratch(box, tmp_path):
    target = tmp_path / "escape.txt"
    os.chmod(tmp_path, 0o777)
    r = run(box, refused(f"open({str(target)!r}, 'w').write('x')"))
    assert r.stdout.startswith("refused") and not target.exists()


@pytest.mark.parametrize("path", ["/etc/shadow", "/etc/passwd", str(Path.home() / ".bashrc"),
                                  str(CHECKOUT / "pyproject.toml"), f"/proc/{os.getpid()}/environ", "/proc/1/cmdline"])
def test_reading_private_files(box, path):
    r = run(box, refused(f"print(open({path!r}).read()[:50])"))
    assert r.stdout.startswith("refused"), r.stdout


def test_listing_home_and_checkout(box):
    r = run(box, refused(f"print(__import__('os').listdir({str(CHECKOUT)!r}))"))
    assert r.stdout.startswith("refused")


def test_harness_environment(box, monkeypatch):
    monkeypatch.setenv("MCB_TEST_SECRET", "hunter2")
    fresh = create_sandbox("default", workers=1)  # started after the secret was set
    try:
        r = fresh.run("import os\nprint(dict(os.environ))", LIMITS)
    finally:
        fresh.close()
    assert "hunter2" not in r.stdout and "MCB_TEST_SECRET" not in r.stdout


def test_rm_rf_of_victim_dirs(box, tmp_path):
    victims = []
    for mode in (0o755, 0o777):
        victim = tmp_path / f"victim{mode:o}"
        victim.mkdir()
        (victim / "precious.txt").write_text("keep me")
        os.chmod(victim, mode)
        victims.append(victim)
    code = "import shutil, os\n" + "".join(
        f"shutil.rmtree({str(v)!r}, ignore_errors=True)\nos.system('rm -rf {v}')\n" for v in victims)
    run(box, code)
    assert all((v / "precious.txt").read_text() == "keep me" for v in victims)


def test_tcp_and_udp_to_loopback(box):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(0.5)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.5)
    try:
        r = run(box, refused(f"import socket; socket.create_connection(('127.0.0.1', {tcp.getsockname()[1]}), 2)"))
        assert r.stdout.startswith("refused")
        r = run(box, refused("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                             f"s.sendto(b'leak', ('127.0.0.1', {udp.getsockname()[1]}))"))
        assert r.stdout.startswith("refused")
        with pytest.raises(TimeoutError):
            tcp.accept()
        with pytest.raises(TimeoutError):
            udp.recvfrom(16)
    finally:
        tcp.close()
        udp.close()


def test_connect_to_test_net(box):
    start = time.monotonic()
    r = run(box, refused("import socket; socket.create_connection(('192.0.2.1', 80), 2)"))
    assert r.stdout.startswith("refused") and time.monotonic() - start < 2


def test_output_flood(box):
    r = run(box, "import sys\nchunk = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(chunk)")
    assert r.status == ExecStatus.OUTPUT_LIMIT and r.truncated and len(r.stdout) == 2**20


@pytest.mark.parametrize("call", [
    "ctypes.CDLL(None).system(b'touch /tmp/mcb-ctypes-escape')",
    "ctypes.CDLL(None).socket(2, 1, 0)",
    "ctypes.CDLL(None).unshare(0x10000000)",
])
def test_ctypes_calls_fail(box, call):
    r = run(box, f"import ctypes\nprint({call})")
    # -1 for a refused syscall; system() reports a refused spawn as exit status 127 (127 << 8 = 32512)
    assert r.stdout.strip() in {"-1", "32512"}, (r.stdout, r.stderr)
    assert not os.path.exists("/tmp/mcb-ctypes-escape")


def test_ctypes_setuid_gains_nothing(box):
    r = run(box, "import ctypes, os\nctypes.CDLL(None).setuid(0)\n" + refused("open('/etc/shadow').read()"))
    assert "refused" in r.stdout


def test_c_level_recursion(box):
    r = run(box, "x = []\nfor _ in range(10**6):\n    x = [x]\nprint(len(repr(x)))")
    assert r.status in {ExecStatus.CRASH, ExecStatus.ERROR, ExecStatus.MEMORY, ExecStatus.TIMEOUT}


@pytest.mark.parametrize("target", ["os.getppid()", "1"])
def test_killing_the_parent_or_init(box, target):
    r = run(box, refused(f"import os, signal; os.kill({target}, signal.SIGKILL)"))
    assert r.stdout.startswith("refused")


def test_five_thousand_threads(box):
    code = ("import threading, time\nn = 0\ntry:\n    for _ in range(5000):\n"
            "        threading.Thread(target=time.sleep, args=(0.5,), daemon=True).start()\n        n += 1\n"
            "except (RuntimeError, MemoryError):\n    pass\nprint(n)")
    r = run(box, code, Limits(timeout_s=5, memory_mb=1024))
    assert r.status in {ExecStatus.OK, ExecStatus.MEMORY, ExecStatus.CRASH}


def test_scratch_is_not_world_readable(box):
    r = run(box, "import os, stat\nprint(oct(os.stat('.').st_mode & 0o777))")
    assert r.stdout.strip() == oct(stat.S_IRWXU)


def test_total_disk_use_is_capped_in_strong_mode(box):
    if box.name != "strong":
        pytest.skip("only strong mode puts scratch on a size-capped tmpfs")
    code = ("import errno\nwritten = 0\ntry:\n    for i in range(20):\n        with open(f'f{i}', 'wb') as f:\n"
            "            for _ in range(50):\n                f.write(b'0' * 2**20)\n                written += 1\n"
            "except OSError as e:\n    print(errno.errorcode[e.errno], written)")
    r = run(box, code, Limits(timeout_s=10, memory_mb=1024))
    error, megabytes = r.stdout.split()
    assert error == "ENOSPC" and int(megabytes) <= 256, r.stdout
