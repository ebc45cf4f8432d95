"""The zygotes children are forked from: one that cannot go on says why, and the server hears it (a failure
never unwinds into a second copy of the server's code; a zygote killed from outside is named as such); the OOM
killer takes a program over its limit, never its zygote; and the heap they share is in huge pages."""

import json
import os
import signal
import subprocess
import sys

import pytest

from mathcodebench.sandbox.child import Confinement
from mathcodebench.sandbox.zygote import Zygote, ZygoteGone


class Unjoinable:
    """A lane's cgroups that refuse the zygote (as a cgroup removed under it would)."""

    def join(self) -> None:
        raise OSError(2, "No such file or directory", "cgroup.procs")


def _confinement(tmp_path, cgroup=None) -> Confinement:
    return Confinement(
        workdir=str(tmp_path),
        uid=None,
        keep_capabilities=0,
        drop_capabilities=False,
        ruleset_fd=None,
        seccomp=None,
        cgroup=cgroup,
    )


def test_a_zygote_that_fails_at_start_tells_the_server_why(tmp_path):
    me = os.getpid()
    zygote = Zygote(_confinement(tmp_path, Unjoinable()), lane=1)
    assert os.getpid() == me
    with pytest.raises(ZygoteGone, match=r"lane 1 failed: FileNotFoundError: .*No such file or directory"):
        zygote.take()
    zygote.close()  # already reaped: closing is still safe


def test_a_zygote_killed_from_outside_is_named_so(tmp_path):
    zygote = Zygote(_confinement(tmp_path), lane=0)
    os.kill(zygote.pid, signal.SIGKILL)
    with pytest.raises(ZygoteGone, match="lane 0 was killed by SIGKILL"):
        zygote.take()
    zygote.close()


def test_a_working_zygote_hands_over_a_child_and_reports_its_exit(tmp_path):
    zygote = Zygote(_confinement(tmp_path), lane=0)
    try:
        zygote.spawn()
        spawned = zygote.take()
        os.kill(spawned.pid, signal.SIGKILL)
        status, _, _ = zygote.reap(spawned.pid)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        spawned.close()
    finally:
        zygote.close()


# Run in a harness whose oom_score_adj is 1000 (as Ray sets it on its workers): programs over their memory
# limit, then which of the server's processes are gone. A zygote lost to the OOM killer shows as a replaced server.
_RAISED_HARNESS = """
import json
import sys
from mathcodebench.sandbox import create_sandbox
from mathcodebench.sandbox.selftest import PROBES

probe = next(p for p in PROBES if "memfd" in p.name)
box = create_sandbox(sys.argv[1], workers=1)
try:
    before = box.processes()
    statuses = [box.run(probe.code, probe.limits).status.value for _ in range(int(sys.argv[2]))]
    gone = len(set(before) - set(box.processes()))
    print(json.dumps({"statuses": statuses, "gone": gone, "missing": box.isolation().missing}))
finally:
    box.close()
"""


def _raised() -> None:
    with open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("1000")


@pytest.mark.skipif(os.geteuid() != 0, reason="raising oom_score_adj and the memory cgroups need root here")
@pytest.mark.parametrize("mode", ["default", "host"])
def test_over_its_memory_limit_a_program_is_killed_never_its_zygote_whatever_the_harness_oom_score(mode):
    done = subprocess.run(
        [sys.executable, "-c", _RAISED_HARNESS, mode, "16"],
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=_raised,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["statuses"] == ["memory"] * 16
    assert seen["gone"] <= 1, "only the first pre-forked child may be gone, else a zygote was killed (server replaced)"
    assert not [m for m in seen["missing"] if "OOM" in m]


_UNPRIVILEGED = """
import os
from mathcodebench.sandbox.cgroups import spare_the_zygotes
with open("/proc/self/oom_score_adj", "w") as fh:
    fh.write("1000")  # as root: what an unprivileged uid cannot lower
os.setresgid(65534, 65534, 65534)
os.setresuid(65534, 65534, 65534)
print(spare_the_zygotes())
print(open("/proc/self/oom_score_adj").read().strip())
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to raise the score, then a uid that cannot lower it")
def test_where_the_zygotes_cannot_be_spared_the_server_says_so():
    done = subprocess.run([sys.executable, "-c", _UNPRIVILEGED], capture_output=True, text=True, timeout=60)
    said, adj = done.stdout.strip().splitlines()
    assert "zygotes spared by the OOM killer" in said and "1000 inherited" in said and adj == "1000"


_COLLAPSE = """
from mathcodebench.sandbox import hugepages
data = bytearray(b"x") * (32 << 20)  # 32 MB of written, private anonymous memory
def huge_kb():
    with open("/proc/self/smaps_rollup") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("AnonHugePages:"))
before = huge_kb()
collapsed = hugepages.collapse()
print(collapsed >> 20, (huge_kb() - before) >> 10, data.count(b"x") == len(data))
"""


@pytest.mark.skipif(
    tuple(int(part) for part in os.uname().release.split(".")[:2]) < (6, 1), reason="MADV_COLLAPSE is Linux 6.1"
)
def test_the_servers_heap_is_collapsed_into_huge_pages_with_its_contents_intact():
    done = subprocess.run([sys.executable, "-c", _COLLAPSE], capture_output=True, text=True, timeout=60, check=True)
    collapsed_mb, huge_mb, intact = done.stdout.split()
    assert int(collapsed_mb) >= 30 and int(huge_mb) >= 30 and intact == "True", done.stdout
