"""The containment self-test: a few hostile actions every run checks before its first program (well under a
second in all), shown by `mathcodebench sandbox check` and stored with the run."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

from .base import ExecStatus, Isolation, Limits, ProbeResult, Sandbox


@dataclass(frozen=True)
class Probe:
    name: str
    code: str
    contained: tuple[str, ...]  # what a contained run may print (and exit 0), or the statuses it may end with
    limits: Limits = field(default_factory=lambda: Limits(timeout_s=2, memory_mb=512))

    def passed(self, status: ExecStatus, stdout: str) -> bool:
        return status in self.contained or (status == ExecStatus.OK and stdout.strip() in self.contained)


def _refused(body: str) -> str:
    return f"try:\n    {body}\n    print('escaped')\nexcept OSError:\n    print('refused')\n"


_MSGGET = (
    "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nq = libc.msgget(0, 0o1600)\n"
    "print('refused' if q < 0 else 'escaped')\nif q >= 0:\n    libc.msgctl(q, 0, None)\n"
)
# Several memfds (each within the file-size limit): pages no address-space limit sees.
_MEMFD = (
    "import os\ntry:\n    block = bytes(1 << 20)\n    for _ in range(12):\n        fd = os.memfd_create('probe')\n"
    "        for _ in range(32):\n            os.write(fd, block)\n    print('escaped')\nexcept OSError:\n"
    "    print('refused')\n"
)

PROBES = (
    Probe(
        "network refused",
        _refused("import socket; socket.create_connection(('127.0.0.1', 22), timeout=1)"),
        ("refused",),
    ),
    Probe(
        "unix sockets refused",
        _refused("import socket; socket.socket(socket.AF_UNIX).connect('/dev/log')"),
        ("refused",),
    ),
    Probe("file outside scratch refused", _refused("open('/tmp/mcb-selftest-escape', 'w').write('x')"), ("refused",)),
    Probe("reading /etc/shadow refused", _refused("open('/etc/shadow').read()"), ("refused",)),
    Probe("metadata outside scratch refused", _refused("import os; os.utime('/tmp')"), ("refused",)),
    Probe(
        "other processes out of reach",
        _refused("import resource; resource.prlimit(1, resource.RLIMIT_NOFILE)"),
        ("refused",),
    ),
    Probe("fork refused", _refused("import os; pid = os.fork(); os._exit(0) if pid == 0 else None"), ("refused",)),
    Probe("SysV IPC refused", _MSGGET, ("refused",)),
    Probe(
        "memory beyond the limit refused (memfd)",
        _MEMFD,
        ("refused", ExecStatus.MEMORY),
        Limits(timeout_s=2, memory_mb=300),
    ),
    Probe(
        "harness environment hidden",
        "import os\nprint(sorted(set(os.environ) - {'PATH', 'LANG', 'HOME', "
        "'TMPDIR', 'PYTHONHASHSEED', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MPLBACKEND'}))",
        ("[]",),
    ),
    Probe("time limit enforced", "while True:\n    pass", (ExecStatus.TIMEOUT,), Limits(timeout_s=0.2, memory_mb=512)),
)


def _seen(status: ExecStatus, stdout: str, stderr: str) -> str:
    last = stdout.strip() or (stderr.strip().splitlines() or [""])[-1]
    return f"{status.value}: {last}"[:100]


def self_test(sandbox: Sandbox) -> list[ProbeResult]:
    """Run each probe; a probe passes when the sandbox contained it."""
    results = []
    for probe in PROBES:
        r = sandbox.run(probe.code, probe.limits)
        results.append(
            ProbeResult(
                name=probe.name, passed=probe.passed(r.status, r.stdout), seen=_seen(r.status, r.stdout, r.stderr)
            )
        )
    return results


def isolation(sandbox: Sandbox) -> Isolation:
    return Isolation(
        requested=sandbox.requested,
        mode=sandbox.name,
        reason=sandbox.reason,
        layers=list(sandbox.layers),
        missing=list(sandbox.missing),
        node=socket.gethostname(),
        self_test=self_test(sandbox),
    )
