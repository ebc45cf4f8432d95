"""`mathcodebench sandbox check`: which layers are active here, and does containment actually hold."""

from __future__ import annotations

from dataclasses import dataclass

from .base import ExecStatus, Limits, Sandbox


@dataclass(frozen=True)
class Probe:
    name: str
    code: str
    contained: str  # what a contained run prints or how it ends

    def passed(self, status: ExecStatus, stdout: str) -> bool:
        if self.contained == "timeout":
            return status == ExecStatus.TIMEOUT
        return status == ExecStatus.OK and stdout.strip() == self.contained


def _refused(body: str) -> str:
    return f"try:\n    {body}\n    print('escaped')\nexcept OSError:\n    print('refused')\n"


PROBES = (
    Probe("network refused", _refused("import socket; socket.create_connection(('127.0.0.1', 22), timeout=2)"),
          "refused"),
    Probe("file outside scratch refused", _refused("open('/tmp/mcb-selftest-escape', 'w').write('x')"), "refused"),
    Probe("reading /etc/shadow refused", _refused("open('/etc/shadow').read()"), "refused"),
    Probe("fork refused", _refused("import os; pid = os.fork(); os._exit(0) if pid == 0 else None"), "refused"),
    Probe("harness environment hidden", "import os\nprint(sorted(set(os.environ) - {'PATH', 'LANG', 'HOME', "
          "'TMPDIR', 'PYTHONHASHSEED', 'OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MPLBACKEND'}))", "[]"),
    Probe("time limit enforced", "while True:\n    pass", "timeout"),
)


def self_test(sandbox: Sandbox) -> list[tuple[str, bool, str]]:
    """Run each probe; return (name, passed, what happened)."""
    results = []
    for probe in PROBES:
        r = sandbox.run(probe.code, Limits(timeout_s=2, memory_mb=512))
        seen = r.stdout.strip() or r.stderr.strip().splitlines()[-1:] and r.stderr.strip().splitlines()[-1] or ""
        results.append((probe.name, probe.passed(r.status, r.stdout), f"{r.status.value}: {seen}"[:100]))
    return results
