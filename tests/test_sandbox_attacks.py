"""Hostile programs against the fork-server sandbox: the default mode (the bubblewrap jail here), the fallback
`host` mode and `unsafe-root` (uid 0 without capabilities). Each must be contained, leave nothing behind
(no process, no SysV IPC object, no file anywhere in the sandbox's directories) and leave the sandbox usable,
with normal math programs still printing exact output.

Every program is written here, one per class of attack; containment is asserted from outside (the victim
unchanged) as well as from what the program saw.
"""

import ctypes
import errno
import json
import os
import resource
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from mathcodebench.sandbox import ExecStatus, Limits, create_sandbox
from mathcodebench.sandbox.forkserver import ForkServerSandbox
from mathcodebench.sandbox.identity import LANES, choose
from mathcodebench.sandbox.rlimits import MAX_PROCESSES

LIMITS = Limits(timeout_s=5, memory_mb=1024)
ROOT = os.geteuid() == 0
CHECKOUT = Path(__file__).resolve().parents[1]
MATH = (
    "import sympy as sp, numpy as np\nx = sp.symbols('x')\n"
    "print(sp.factorint(2**32 + 1), sp.solve(x**2 - 2, x), int(np.arange(10).sum()), sp.Rational(1, 3) + 1)"
)
MATH_OUT = "{641: 1, 6700417: 1} [-sqrt(2), sqrt(2)] 45 4/3\n"
MODES = ["default", "host", "unsafe-root"] if ROOT else ["default", "host"]


def _servers(box) -> list[int]:
    """The sandbox's server processes (inside their namespaces): /proc/PID/root is the filesystem a server sees,
    /proc/PID/ns/ipc its IPC namespace. Their zygotes and children, forked without exec, share their command
    line: a server is one whose parent does not."""
    found = {}
    for pid in box.processes():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            parent = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
        if argv[:1] == [os.path.abspath(sys.executable).encode()] and b"mathcodebench.sandbox.server" in argv:
            found[pid] = parent
    return sorted(pid for pid, parent in found.items() if parent not in found)


def _inner(box) -> int:
    """A server process of a one-server sandbox."""
    servers = _servers(box)
    if not servers:
        raise AssertionError("no sandbox server process")
    return servers[0]


def _sysv_objects(pid: int) -> list[str]:
    """SysV message queues, shared memory segments and semaphores in the IPC namespace of `pid`."""
    read, write = os.pipe()
    helper = os.fork()
    if helper == 0:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            ns = os.open(f"/proc/{pid}/ns/ipc", os.O_RDONLY)
            if libc.setns(ns, 0x08000000) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            lines = [
                line
                for kind in ("msg", "shm", "sem")
                for line in Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
            ]
            os.write(write, json.dumps(lines).encode())
        finally:
            os._exit(0)
    os.close(write)
    data = b""
    while chunk := os.read(read, 65536):
        data += chunk
    os.close(read)
    os.waitpid(helper, 0)
    return json.loads(data)


def _scratch_roots(box) -> list[Path]:
    if box.jailed:  # every server has its own
        return [Path(f"/proc/{pid}/root") / top for pid in _servers(box) for top in ("scratch", "tmp")]
    return [Path(box.root)]


def _files_left(box) -> list[str]:
    """Everything in the sandbox's directories but the run directories themselves (and their parents), and but the
    jail's read-only mounts and the directories leading to them (an interpreter installed under /tmp is mounted at
    its own path inside the jail's /tmp)."""
    allowed_dirs = set()
    for root in _scratch_roots(box):
        for run in list(root.glob("run*")) + list(root.glob("*/run*")):
            allowed_dirs |= {run, run.parent}
    found = []
    for root in _scratch_roots(box):
        for top, dirs, files in os.walk(root):  # never follows a link a program may have left
            for name in list(dirs):
                if os.path.ismount(Path(top, name)):  # a bind mount of the jail, not something a program made
                    dirs.remove(name)
                    allowed_dirs |= {Path(top, name), *Path(top, name).parents}
            found += [Path(top, name) for name in dirs + files]
    return [str(path) for path in found if path not in allowed_dirs]


@pytest.fixture(scope="module", params=MODES)
def box(request):
    sandbox = create_sandbox(request.param, workers=1)
    sandbox.run("print(0)", LIMITS)
    sandbox.expected_processes = per_server(sandbox)
    sandbox.ipc = _sysv_objects(_inner(sandbox))
    yield sandbox
    sandbox.close()


def per_server(box) -> int:
    """The processes of one idle server: itself, a zygote per lane and the pre-forked child (in the jail also bwrap
    and its init), once the last program's child has exited."""
    return 2 + LANES + 2 * box.jailed


def _settled(box) -> int:
    """The number of the sandbox's processes once the last program's child has finished exiting."""
    deadline = time.monotonic() + 5
    while len(box.processes()) != box.expected_processes and time.monotonic() < deadline:
        time.sleep(0.01)
    return len(box.processes())


def run(box, code, limits=LIMITS):
    """Run a hostile program, then normal ones; assert nothing of the first is left anywhere and that it ended no
    server (no zygote of it was killed, no cleanup failed)."""
    servers = _servers(box)
    result = box.run(code, limits)
    for _ in range(2):  # a child is reaped, and its run directory wiped, after the reply that follows its own
        follow_up = box.run(MATH, LIMITS)
        assert follow_up.stdout == MATH_OUT, ("the sandbox still works", follow_up.stderr)
    assert _settled(box) == box.expected_processes, "a process outlived its run"
    assert _sysv_objects(_inner(box)) == box.ipc, "an IPC object outlived its run"
    assert _files_left(box) == [], "a file outlived its run"
    assert _servers(box) == servers, "the program ended its server"
    return result


def outcomes(code: str) -> str:
    """A program that tries each `name: expression` line and prints {name: "refused ERRNO" | "escaped ..."}."""
    lines = [
        "import ctypes, errno, json, os, socket, resource, fcntl",
        "libc = ctypes.CDLL(None, use_errno=True)",
        "seen = {}",
        "def attempt(name, call):",
        "    try:",
        "        got = call()",
        "    except OSError as exc:",
        "        seen[name] = 'refused ' + errno.errorcode.get(exc.errno, '?')",
        "        return",
        "    if isinstance(got, int) and got < 0:",
        "        seen[name] = 'refused ' + errno.errorcode.get(ctypes.get_errno(), '?')",
        "    else:",
        "        seen[name] = 'escaped ' + repr(got)[:60]",
    ]
    for line in code.strip().splitlines():
        name, _, expression = line.partition(":")
        lines.append(f"attempt({name.strip()!r}, lambda: {expression.strip()})")
    lines.append("print(json.dumps(seen))")
    return "\n".join(lines)


def all_refused(result) -> dict[str, str]:
    assert result.status == ExecStatus.OK, result.stderr
    seen = json.loads(result.stdout)
    assert seen and all(v.startswith("refused") for v in seen.values()), seen
    return seen


def test_layers_and_isolation_record(box):
    assert any(layer.startswith("seccomp") for layer in box.layers)
    assert any(layer.startswith("landlock abi") for layer in box.layers)
    assert any("jail" in layer for layer in box.layers) == (box.name == "strong")
    isolation = box.isolation()
    assert isolation.passed, [p for p in isolation.self_test if not p.passed]
    assert (isolation.requested, isolation.mode) == (box.requested, box.name) and isolation.node
    if ROOT:
        assert any(layer.startswith("memory cgroup") for layer in box.layers)
        assert any(layer.startswith("pids cgroup") for layer in box.layers)
        assert any(layer.startswith("uid 0") for layer in box.layers) == (box.name == "unsafe-root")


# --- unix sockets outside the sandbox: pathname and abstract, stream and datagram ---------------------------------


def test_unix_sockets_outside_the_sandbox(box, tmp_path):
    os.chmod(tmp_path, 0o777)
    stream_path, dgram_path = str(tmp_path / "stream.sock"), str(tmp_path / "dgram.sock")
    abstract = "\0mcb-test-" + uuid.uuid4().hex
    listeners = []
    for family_type, address in (
        (socket.SOCK_STREAM, stream_path),
        (socket.SOCK_DGRAM, dgram_path),
        (socket.SOCK_STREAM, abstract),
    ):
        s = socket.socket(socket.AF_UNIX, family_type)
        s.bind(address)
        if family_type == socket.SOCK_STREAM:
            s.listen(4)
        s.settimeout(0.3)
        listeners.append(s)
    for path in (stream_path, dgram_path):
        os.chmod(path, 0o777)
    try:
        r = run(
            box,
            outcomes(f"""
            stream: socket.socket(socket.AF_UNIX).connect({stream_path!r})
            abstract: socket.socket(socket.AF_UNIX).connect({abstract!r})
            datagram: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b'x', {dgram_path!r})
            raw libc socket: libc.socket(1, 1, 0)
            datagram pair: socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            seqpacket pair: socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            stream pair reconnect: socket.socketpair()[0].connect({stream_path!r})
            stream pair sendto: socket.socketpair()[0].sendto(b'x', {dgram_path!r})
            stream pair bind: socket.socketpair()[0].bind('\\0mcb-bound')
        """),
        )
        all_refused(r)
        for s in listeners[::2]:
            with pytest.raises(TimeoutError):
                s.accept()
        with pytest.raises(TimeoutError):
            listeners[1].recv(16)
    finally:
        for s in listeners:
            s.close()


def test_a_socketpair_inside_the_program_still_works(box):
    code = (
        "import asyncio\nasync def main():\n    await asyncio.sleep(0)\n    return 7\n"
        "print(asyncio.run(main()))"
    )  # an event loop makes its self-pipe with socketpair()
    assert run(box, code).stdout == "7\n"


# --- metadata changes outside scratch -----------------------------------------------------------------------------


def test_metadata_changes_outside_scratch(box, tmp_path):
    os.chmod(tmp_path, 0o777)
    open_file, private_file = tmp_path / "world-writable", tmp_path / "root-owned"
    for path, mode in ((open_file, 0o666), (private_file, 0o644)):
        path.write_text("keep")
        os.chmod(path, mode)
    before = {p: os.stat(p) for p in (tmp_path, open_file, private_file)}  # /tmp changes under other users
    lines = []
    for i, p in enumerate((open_file, private_file, tmp_path)):
        lines += [
            f"chmod {i}: os.chmod({str(p)!r}, 0o777)",
            f"chown {i}: os.chown({str(p)!r}, 61000, 61000)",
            f"utime now {i}: os.utime({str(p)!r})",
            f"utime set {i}: os.utime({str(p)!r}, (0, 0))",
            f"setxattr {i}: os.setxattr({str(p)!r}, 'user.mcb', b'1')",
            f"removexattr {i}: os.removexattr({str(p)!r}, 'user.none')",
        ]
    lines += [
        f"fchmod: os.fchmod(os.open({str(private_file)!r}, os.O_RDONLY), 0o777)",
        f"fchown: os.fchown(os.open({str(private_file)!r}, os.O_RDONLY), 0, 0)",
        "utime /tmp: os.utime('/tmp')",
        "utime /dev/null: os.utime('/dev/null')",
        f"truncate: os.truncate({str(open_file)!r}, 0)",
        f"write: open({str(open_file)!r}, 'a').write('x')",
        f"rename: os.rename({str(open_file)!r}, {str(tmp_path / 'moved')!r})",
        f"unlink: os.unlink({str(open_file)!r})",
    ]
    all_refused(run(box, outcomes("\n".join(lines))))
    for path, st in before.items():
        now = os.stat(path)
        assert (now.st_mode, now.st_uid, now.st_gid, now.st_mtime_ns, now.st_size) == (
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_mtime_ns,
            st.st_size,
        ), path
    assert os.listxattr(open_file) == [] and open_file.read_text() == "keep"


def test_links_cannot_carry_a_file_out_or_in(box, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    os.chmod(tmp_path, 0o777)
    r = run(
        box,
        outcomes(f"""
        hard link in: os.link({str(victim)!r}, 'inside')
        hard link of a library: os.link(os.__file__, 'os.py')
        link by descriptor: libc.linkat(os.open(os.__file__, os.O_RDONLY), b'', -100, b'inside2', 0x1000)
        handle: libc.syscall(304, -100, 0, 0)
        symlink out then write: (os.symlink({str(victim)!r}, 'out'), open('out', 'w').write('x'))
        rename the run directory: os.rename(os.getcwd(), os.getcwd() + '-moved')
    """),
    )
    all_refused(r)
    assert victim.read_text() == "keep"


# --- reaching into other processes --------------------------------------------------------------------------------


def test_reaching_other_processes(box):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        before = (
            resource.prlimit(victim.pid, resource.RLIMIT_NOFILE),
            os.sched_getaffinity(victim.pid),
            os.getpriority(os.PRIO_PROCESS, victim.pid),
            os.sched_getscheduler(victim.pid),
        )
        own_priority = os.getpriority(os.PRIO_PROCESS, os.getpid())  # not 0 under `nice`
        lines = []
        for t in ("1", "os.getppid()", str(victim.pid), str(os.getpid())):
            lines += [
                f"prlimit get {t}: resource.prlimit({t}, resource.RLIMIT_NOFILE)",
                f"prlimit set {t}: resource.prlimit({t}, resource.RLIMIT_NOFILE, (4, 4))",
                f"affinity set {t}: os.sched_setaffinity({t}, {{0}})",
                f"affinity get {t}: os.sched_getaffinity({t})",
                f"scheduler {t}: os.sched_setscheduler({t}, os.SCHED_IDLE, os.sched_param(0))",
                f"scheduler get {t}: os.sched_getscheduler({t})",
                f"nice {t}: os.setpriority(os.PRIO_PROCESS, {t}, 19)",
                f"ioprio {t}: libc.syscall(251, 1, {t}, 3 << 13)",
                f"pidfd {t}: libc.syscall(434, {t}, 0)",
                f"kcmp {t}: libc.syscall(312, {t}, os.getpid(), 0, 0, 0)",
                f"ptrace {t}: libc.ptrace(16, {t}, 0, 0)",
                f"process_vm {t}: libc.syscall(310, {t}, 0, 0, 0, 0, 0)",
                f"robust list {t}: libc.syscall(274, {t}, 0, 0)",
                f"signal {t}: os.kill({t}, 19)",
                f"pgid {t}: os.setpgid({t}, 0)",
                f"proc mem {t}: open('/proc/' + str({t}) + '/mem', 'rb')",
                f"proc environ {t}: open('/proc/' + str({t}) + '/environ', 'rb').read()",
            ]
        lines += [
            "nice every process of the uid: os.setpriority(os.PRIO_USER, 0, 19)",
            "ioprio every process of the uid: libc.syscall(251, 3, 0, 3 << 13)",
        ]
        all_refused(run(box, outcomes("\n".join(lines))))
        after = (
            resource.prlimit(victim.pid, resource.RLIMIT_NOFILE),
            os.sched_getaffinity(victim.pid),
            os.getpriority(os.PRIO_PROCESS, victim.pid),
            os.sched_getscheduler(victim.pid),
        )
        assert after == before and victim.poll() is None
        assert os.getpriority(os.PRIO_PROCESS, os.getpid()) == own_priority
    finally:
        victim.kill()
        victim.wait()


def test_sigio_to_another_process(box):
    # SIGIO's default action is to terminate: delivered to the zygote (the child's parent), the next child would
    # never come. Landlock's signal scoping stops it at delivery.
    zygote = _inner(box)
    code = (
        "import fcntl, os, sys\nfcntl.fcntl(1, fcntl.F_SETOWN, os.getppid())\n"
        "fcntl.fcntl(1, fcntl.F_SETFL, fcntl.fcntl(1, fcntl.F_GETFL) | os.O_ASYNC)\nprint('written', flush=True)"
    )
    assert run(box, code).stdout == "written\n"
    assert _inner(box) == zygote and box.run("print(1)", LIMITS).stdout == "1\n"


# --- processes and threads: bounded for any uid --------------------------------------------------------------------

THREAD_BOMB = (
    "import threading, time\nn = 0\ntry:\n    for _ in range(5000):\n"
    "        threading.Thread(target=time.sleep, args=(3,), daemon=True).start()\n        n += 1\n"
    "except (RuntimeError, MemoryError):\n    pass\nprint(n)"
)


def test_thread_bomb_is_bounded(box):
    r = run(box, THREAD_BOMB, Limits(timeout_s=10, memory_mb=2048))
    assert r.status == ExecStatus.OK, r.stderr
    assert 0 < int(r.stdout) < MAX_PROCESSES


def test_fork_bomb_and_spawns(box):
    r = run(
        box,
        outcomes("""
        fork: os.fork()
        subprocess: __import__('subprocess').run(['id'])
        system: os.system('id') and -1
        clone thread-less: libc.syscall(56, 17, 0, 0, 0, 0)
        clone into a namespace: libc.syscall(56, 0x00010000 | 0x00000100 | 0x00000800 | 0x40000000, 0, 0, 0, 0)
        clone3: libc.syscall(435, 0, 0)
        unshare: libc.unshare(0x10000000)
    """),
    )
    all_refused(r)


# --- nothing survives a run ----------------------------------------------------------------------------------------


def test_sysv_ipc_and_message_queues(box):
    code = outcomes("""
        msgget: libc.msgget(0x4d43, 0o1666)
        shmget: libc.shmget(0x4d43, 1 << 20, 0o1666)
        semget: libc.semget(0x4d43, 1, 0o1666)
        private queue: libc.msgget(0, 0o1600)
        mq_open: ctypes.CDLL('librt.so.1', use_errno=True).mq_open(b'/mcb', 0o100 | 2, 0o666, None)
        posix shm: __import__('multiprocessing.shared_memory').shared_memory.SharedMemory(create=True, size=4096)
    """)
    all_refused(run(box, code))
    all_refused(run(box, outcomes("queue left: libc.msgget(0x4d43, 0)\nsegment left: libc.shmget(0x4d43, 0, 0)")))


def test_files_written_anywhere_do_not_reach_the_next_run(box):
    marker = uuid.uuid4().hex
    places = [".", "..", "../..", "/root", "/tmp", "/var/tmp", "/dev/shm", "/scratch", "/dev/mqueue", "/"]
    code = (
        f"import os, tempfile\nplaces = {places!r} + [os.environ['HOME'], os.environ['TMPDIR'], "
        "tempfile.gettempdir()]\nwritten = set()\nfor place in places:\n    try:\n"
        f"        open(os.path.join(place, '.{marker}'), 'w').write('x')\n"
        "        written.add(os.path.realpath(place))\n    except OSError:\n        pass\n"
        f"os.mkfifo('fifo-{marker}')\nos.makedirs('d/e/f')\nopen('d/e/f/{marker}', 'w').write('x')\n"
        "print(written == {os.getcwd()})"
    )
    first = run(box, code)
    assert first.stdout == "True\n", "only the run directory is writable"
    probe = (
        f"import os, tempfile\nplaces = {places!r} + [os.environ['HOME'], os.environ['TMPDIR'], "
        "tempfile.gettempdir(), 'd/e/f']\nfound = []\nfor place in places:\n    try:\n"
        f"        if any('{marker}' in name for name in os.listdir(place)):\n            found.append(place)\n"
        "    except OSError:\n        pass\nprint(found, os.listdir('.'))"
    )
    assert run(box, probe).stdout == "[] []\n"


def test_state_in_preimported_modules_does_not_survive(box):
    marker = uuid.uuid4().hex
    draw = "import numpy, random\nprint(numpy.random.rand(), random.random())"
    fresh = run(box, draw).stdout
    first = run(
        box,
        f"import sympy, numpy, random\nsympy.leftover = '{marker}'\nnumpy.random.seed(12345)\n"
        "random.seed(99)\nprint('set')",
    )
    assert first.stdout == "set\n"
    assert run(box, "import sympy\nprint(hasattr(sympy, 'leftover'))").stdout == "False\n"
    assert run(box, draw).stdout == fresh, "the random generators start from the same state in every run"


def test_an_earlier_program_is_not_in_a_later_ones_memory(box):
    marker = uuid.uuid4().hex
    run(box, f"secret = '{marker}'\nprint(len(secret))")
    probe = (
        "import gc\ndef count():\n    m = " + repr(marker[::-1]) + "[::-1]\n    n = 0\n"
        "    for o in gc.get_objects():\n"
        "        items = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()\n"
        "        n += sum(1 for s in items if isinstance(s, str) and m in s)\n    return n\nprint(count())"
    )
    assert run(box, probe).stdout == "0\n", "an earlier program's code is reachable in a later one"


# --- memory: anonymous, memfd, tmpfs and shm ---------------------------------------------------------------------

MEMFDS = (
    "import os\nblock = bytes(1 << 20)\ntry:\n    for i in range(40):\n        fd = os.memfd_create('m')\n"
    "        for _ in range(32):\n            os.write(fd, block)\n    print('escaped')\n"
    "except OSError as e:\n    print('refused', e.errno)"
)


def test_memfd_beyond_the_limit(box):
    r = run(box, MEMFDS, Limits(timeout_s=10, memory_mb=400))
    assert r.status == ExecStatus.MEMORY or r.stdout.startswith("refused"), (r.status, r.stdout, r.stderr[-300:])
    if ROOT:  # the child's memory cgroup charges memfd pages, and reports them
        assert r.status == ExecStatus.MEMORY and 350 < r.peak_memory_mb < 450, (r.status, r.peak_memory_mb)


def test_memfd_peak_is_reported(box):
    code = (
        "import os\nfd = os.memfd_create('m')\nblock = bytes(1 << 20)\nfor _ in range(60):\n"
        "    os.write(fd, block)\nprint('ok')"
    )
    r = run(box, code)
    assert r.stdout == "ok\n"
    if ROOT:
        assert 55 < r.peak_memory_mb < 100, r.peak_memory_mb


def test_shared_memory_files(box):
    all_refused(
        run(
            box,
            outcomes("""
        dev shm: open('/dev/shm/mcb-test', 'w')
        shm_open: libc.shm_open(b'/mcb-test', 0o100 | 2, 0o600)
        shared anonymous mapping beyond the limit: __import__('mmap').mmap(-1, 4 << 30)
    """),
        )
    )


def test_anonymous_memory(box):
    assert run(box, "x = bytearray(50 * 10**9)").status == ExecStatus.MEMORY
    r = run(box, "chunks = []\nwhile True:\n    chunks.append(bytearray(64 * 2**20))")
    assert r.status == ExecStatus.MEMORY
    r = run(box, "x = bytearray(300 * 2**20)\nprint(len(x))")
    assert r.status == ExecStatus.OK and 250 < r.peak_memory_mb < 400, r.peak_memory_mb


def test_files_in_scratch_count_against_memory(box):
    code = (
        "block = b'1' * (1 << 20)\nn = 0\ntry:\n    for i in range(6):\n"
        "        with open(f'f{i}', 'wb') as f:\n            for _ in range(40):\n"
        "                f.write(block)\n                n += 1\n    print('wrote', n)\n"
        "except OSError as e:\n    print('stopped', e.errno, n)"
    )
    r = run(box, code, Limits(timeout_s=10, memory_mb=230))  # the server's own address space is ~200 MB
    if box.jailed and ROOT:  # the jail's scratch is a tmpfs: its pages are charged to the child's memory cgroup
        assert r.status == ExecStatus.MEMORY or r.stdout.startswith(f"stopped {errno.ENOMEM}"), (r.status, r.stdout)
    else:  # on disk: page cache, reclaimed as needed
        assert r.stdout == "wrote 240\n", (r.status, r.stdout, r.stderr[-300:])


# --- a total disk quota in every mode ------------------------------------------------------------------------------


def test_many_files_within_the_file_size_limit(box):
    code = (
        "written = 0\ntry:\n    for i in range(24):\n        with open(f'f{i}', 'wb') as f:\n"
        "            for _ in range(50):\n                f.write(b'0' * 2**20)\n                written += 1\n"
        "except OSError as e:\n    print(e.errno, written)\nelse:\n    print('all', written)"
    )
    r = run(box, code, Limits(timeout_s=20, memory_mb=2048))
    assert not r.stdout.startswith("all"), r.stdout
    if box.jailed:
        errno_, megabytes = r.stdout.split()
        assert errno_ == str(errno.ENOSPC) and int(megabytes) <= box.scratch_mb
    else:
        assert r.status == ExecStatus.ERROR and "disk quota" in r.stderr, (r.status, r.stderr[-300:])


def test_deleted_files_held_open_count(box):
    code = (
        "import os\nfiles = []\nfor i in range(12):\n    f = open(f'f{i}', 'wb')\n    os.unlink(f'f{i}')\n"
        "    for _ in range(40):\n        f.write(b'0' * 2**20)\n    f.flush()\n    files.append(f)\nprint('all')"
    )
    r = run(box, code, Limits(timeout_s=20, memory_mb=2048))
    assert r.stdout != "all\n" and r.status == ExecStatus.ERROR, (r.status, r.stderr[-300:])
    assert ("No space left on device" if box.jailed else "disk quota") in r.stderr


def test_many_entries(box):
    code = "import os\nfor i in range(30000):\n    open(f'e{i}', 'w').close()\nprint('made')"
    r = run(box, code, Limits(timeout_s=20))
    if not box.jailed:
        assert r.status == ExecStatus.ERROR and "disk quota" in r.stderr


# --- no inotify / fanotify / dnotify ----------------------------------------------------------------------------------


def test_file_notifications(box, tmp_path):
    os.chmod(tmp_path, 0o711)
    watched = str(tmp_path)
    all_refused(
        run(
            box,
            outcomes(f"""
        inotify: libc.inotify_init1(0)
        inotify watch: libc.inotify_add_watch(libc.inotify_init(), {watched.encode()!r}, 0xfff)
        fanotify: libc.fanotify_init(0, 0)
        fanotify unprivileged: libc.fanotify_init(0x200, 0)
        dnotify here: fcntl.fcntl(os.open('.', os.O_RDONLY), 1026, 0x80000000 | 0xff)
        lease: fcntl.fcntl(os.open(os.__file__, os.O_RDONLY), 1024, 0)
    """),
        )
    )


# --- cleanup that cannot be attacked ------------------------------------------------------------------------------


def test_traps_left_for_the_cleanup(box, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious").write_text("keep")
    os.chmod(tmp_path, 0o755)
    code = (
        f"import os\nos.symlink({str(victim)!r}, 'to-victim')\nos.symlink('/', 'to-root')\n"
        "os.symlink('to-root', 'chain')\nos.mkfifo('fifo')\nos.mkdir('closed', 0)\nos.makedirs('a/b')\n"
        "os.mkdir('a/b/shut', 0)\nopen(b'new\\nline\\xff\\xfe', 'w').write('x')\nopen('-rf', 'w').write('x')\n"
        "open('n' * 255, 'w').write('x')\nos.mkdir(b'dir\\xff')\nopen(b'dir\\xff/f', 'w').write('x')\n"
        "os.link('fifo', 'fifo-link')\nprint(len(os.listdir('.')))"
    )
    r = run(box, code)
    assert r.status == ExecStatus.OK and int(r.stdout) == 11, (r.stdout, r.stderr)
    assert (victim / "precious").read_text() == "keep"


def test_a_deep_tree_is_contained_and_cleaned(box):
    # Five times the recursion limit that broke `shutil.rmtree`; deeper only costs time (Landlock checks each
    # access against every directory above it).
    code = "import os\nfor _ in range(5000):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep')"
    r = run(box, code, Limits(timeout_s=20))
    if box.jailed:
        assert r.stdout == "deep\n", (r.status, r.stderr[-500:])
    else:  # the disk quota also bounds the depth it can measure
        assert r.stdout == "deep\n" or "disk quota" in r.stderr


def test_deep_tree_through_the_command_line(tmp_path):
    program = tmp_path / "deep.py"
    program.write_text("import os\nfor _ in range(5000):\n    os.mkdir('d')\n    os.chdir('d')\nprint('deep')")
    for mode in MODES[:2]:
        done = subprocess.run(
            [
                str(Path(sys.executable).parent / "mathcodebench"),
                "sandbox",
                "exec",
                str(program),
                "--json",
                "--sandbox",
                mode,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        result = json.loads(done.stdout)
        assert result["stdout"] == "deep\n" or "disk quota" in result["stderr"]


# --- the fallback without cgroups ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bare_host():
    """Host mode as on a machine that has no cgroups to give: memfd is denied, RLIMIT_NPROC bounds threads."""
    sandbox = ForkServerSandbox(
        1,
        name="host",
        requested="host",
        reason="test",
        jailed=False,
        cgroups=False,
        identity=choose(jailed=False, unsafe_root=False),
    )
    yield sandbox
    sandbox.close()


def test_without_cgroups(bare_host):
    assert any("cgroup" in m for m in bare_host.missing)
    assert any("no memfd" in layer for layer in bare_host.layers)
    r = bare_host.run(MEMFDS, Limits(timeout_s=10, memory_mb=400))
    assert r.stdout.startswith(f"refused {errno.EPERM}"), (r.stdout, r.stderr)
    r = bare_host.run(THREAD_BOMB, Limits(timeout_s=10, memory_mb=2048))
    assert 0 < int(r.stdout) < MAX_PROCESSES
    r = bare_host.run("x = bytearray(300 * 2**20)\nprint(len(x))", LIMITS)
    assert r.status == ExecStatus.OK and 250 < r.peak_memory_mb < 400
    assert bare_host.run(MATH, LIMITS).stdout == MATH_OUT


# --- what the earlier grid covered, kept ---------------------------------------------------------------------------


def test_limits(box):
    assert run(box, "while True:\n    pass", Limits(timeout_s=1)).status == ExecStatus.TIMEOUT
    assert run(box, "import time\ntime.sleep(1000)", Limits(timeout_s=1)).status == ExecStatus.TIMEOUT
    r = run(box, "with open('big', 'wb') as f:\n    while True:\n        f.write(b'0' * 2**20)")
    assert r.status == ExecStatus.ERROR and "File too large" in r.stderr
    r = run(box, "import sys\nchunk = 'x' * 2**20\nfor _ in range(1024):\n    sys.stdout.write(chunk)")
    assert r.status == ExecStatus.OUTPUT_LIMIT and len(r.stdout) == 2**20
    r = run(
        box,
        "import resource\ntry:\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n    print('raised')\n"
        "except (OSError, ValueError):\n    print('refused')",
    )
    assert r.stdout == "refused\n"


@pytest.mark.parametrize(
    "path",
    [
        "/etc/shadow",
        "/etc/passwd",
        str(Path.home() / ".bashrc"),
        str(CHECKOUT / "pyproject.toml"),
        f"/proc/{os.getpid()}/environ",
        "/proc/1/cmdline",
        "/proc/self/maps",
    ],
)
def test_reading_private_files(box, path):
    all_refused(run(box, outcomes(f"read: open({path!r}).read()[:50]\nlist: os.listdir({str(CHECKOUT)!r})")))


def test_network(box):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(1)
    tcp.settimeout(0.3)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.3)
    try:
        all_refused(
            run(
                box,
                outcomes(f"""
            tcp: socket.create_connection(('127.0.0.1', {tcp.getsockname()[1]}), 2)
            udp: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.1', {udp.getsockname()[1]}))
            test net: socket.create_connection(('192.0.2.1', 80), 2)
            raw: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)
            netlink: socket.socket(16, 3, 0)
            io_uring: libc.syscall(425, 8, 0)
            x32 socket: libc.syscall(0x40000000 + 41, 2, 1, 0)
            a syscall newer than any reviewed: libc.syscall(470, 0, 0)
        """),
            )
        )
        with pytest.raises(TimeoutError):
            tcp.accept()
        with pytest.raises(TimeoutError):
            udp.recvfrom(16)
    finally:
        tcp.close()
        udp.close()


def test_harness_environment(box, monkeypatch):
    monkeypatch.setenv("MCB_TEST_SECRET", "hunter2")
    fresh = create_sandbox(box.requested, workers=1)  # started after the secret was set
    try:
        r = fresh.run("import os\nprint(dict(os.environ))", LIMITS)
    finally:
        fresh.close()
    assert "hunter2" not in r.stdout and "MCB_TEST_SECRET" not in r.stdout


def test_c_level_crashes(box):
    assert run(box, "import ctypes\nctypes.string_at(0)").status == ExecStatus.CRASH
    r = run(box, "x = []\nfor _ in range(10**6):\n    x = [x]\nprint(len(repr(x)))")
    assert r.status in {ExecStatus.CRASH, ExecStatus.ERROR, ExecStatus.MEMORY, ExecStatus.TIMEOUT}


def test_scratch_is_private(box):
    r = run(box, "import os, stat\nprint(oct(os.stat('.').st_mode & 0o777), os.getuid() != 0)")
    assert r.stdout == f"{oct(stat.S_IRWXU)} {box.name != 'unsafe-root' or not ROOT}\n"
