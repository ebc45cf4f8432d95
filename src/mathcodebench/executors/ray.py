"""The Ray executor: a run's problems solved by one actor per node of a Ray cluster, every step streamed back
to the driver, which stays the only writer of the run database.

- Placement: one actor (executors/node.py) per alive node with CPUs, pinned there. It starts the node's sandbox
  pool (a fork server per CPU of the node) and self-tests it there, and builds the models there, so it calls
  the model endpoints itself with its own connections.
- Back-pressure: at most `concurrency` problems in flight per actor; the next goes out when one finishes.
- Streaming: a problem is one streaming call; the driver stores each event as it arrives, in order.
- Node loss: an actor that dies (node gone, process killed, out of memory) loses only what it had not streamed
  yet. Its calls are dropped, never read again, and their problems go to the other actors with what is stored
  now, so they continue after the last stored attempt (as --resume does): an attempt is stored once, and the
  store's keys (problem, sample, number) never collide.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections import deque
from dataclasses import dataclass, field
from importlib import metadata
from types import ModuleType
from typing import Any

from ..data import Problem
from ..errors import Incomplete, UserError
from ..grading import FINAL, Grade
from ..models import ChatModel
from ..models.openai_compat import PROVIDERS
from ..settings import Settings
from ..solve import Attempt, SolvePolicy
from ..store import RunStore, Unit
from ..work import Done, Outcome
from .base import DriverSink, Finished, Plan, Usage, add_usage, in_flight
from .node import AttemptMade, Event, Graded, GraderFailed, Judged, Models, NodeInfo, NodeWorker, ProblemDone, Voted

log = logging.getLogger(__name__)
INSTALL = "--executor ray needs Ray: pip install 'mathcodebench[ray]'"
# What the backends read from the environment: sent to the actors, whose nodes may not have them set.
FORWARDED = tuple(
    dict.fromkeys(
        [
            *(name for p in PROVIDERS.values() for name in p[1:3] if isinstance(name, str)),
            "OLLAMA_HOST",
            "MATHCODEBENCH_CACHE",
            "OMP_WAIT_POLICY",
        ]
    )
)
START_S = 600.0  # a node's sandbox and models must be up within this
REACH_S = 5.0  # a cluster address must accept a connection within this
WAIT_S = 1.0  # the driver wakes this often while waiting (Ctrl-C is seen at once)


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError:
        raise UserError(INSTALL) from None
    return ray


def connect(ray: ModuleType, address: str | None) -> bool:
    """Join the cluster at `address`, else RAY_ADDRESS, else start a local Ray instance for the run. True when
    this call connected (so closing the executor disconnects, and stops a local instance)."""
    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    reachable(target)
    local = {"include_dashboard": False} if target == "local" else {}
    try:
        ray.init(address=target, logging_level=logging.WARNING, log_to_driver=False, **local)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UserError(
            f"--executor ray: cannot join the Ray cluster at {target}: {' '.join(str(exc).split())}"
        ) from None
    return True


def reachable(address: str) -> None:
    """A cluster address that nothing answers at is one line in seconds (Ray itself keeps retrying for minutes)."""
    host, sep, port = address.rpartition("://")[2].rpartition(":")
    if not sep or not port.isdigit():
        return  # "local", "auto": Ray resolves those itself
    try:
        socket.create_connection((host, int(port)), timeout=REACH_S).close()
    except OSError as exc:
        raise UserError(
            f"--executor ray: nothing answers at {address} ({exc.strerror or type(exc).__name__}); "
            "start the head node with 'ray start --head' or check --ray-address"
        ) from None


def portable(settings: Settings, model: ChatModel, judge: ChatModel | None) -> Models:
    """The settings' own models are built on each node; any other model travels as a copy."""
    ship_model = None if model.spec == settings.model else model
    ship_judge = (
        judge
        if judge is not None and (judge.spec != settings.judge or (judge is model and ship_model is not None))
        else None
    )
    return Models(ship_model, ship_judge)


def combined(nodes: list[NodeInfo]) -> dict[str, Any]:
    """One isolation record for the run (layers active on every node, any layer missing on one, every mode),
    with each node's own record under `nodes`."""
    records = [{**n.isolation, "ray_node": n.node_id} for n in nodes]
    first = records[0]
    return {
        **first,
        "mode": "+".join(dict.fromkeys(r["mode"] for r in records)),
        "layers": [x for x in first.get("layers", []) if all(x in r.get("layers", []) for r in records)],
        "missing": list(dict.fromkeys(m for r in records for m in r.get("missing", []))),
        "node": ", ".join(dict.fromkeys(str(r.get("node")) for r in records)),
        "nodes": records,
    }


def _last_line(exc: Exception) -> str:
    """What went wrong, from Ray's many-line report (its last line is the error itself)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {lines[-1] if lines else ''}"[:300]


def _cause(exc: Exception) -> BaseException:
    """The exception a node raised, as itself (a UserError stays one line)."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


@dataclass
class _Call:
    actor: int
    problem: Problem
    graded_here: list[int] = field(default_factory=list)  # samples graded through this call


class RayExecutor:
    name = "ray"

    def __init__(self, settings: Settings, policy: SolvePolicy, model: ChatModel, judge: ChatModel | None) -> None:
        self.ray = ray = import_ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        models = portable(settings, model, judge)
        try:
            ray.cloudpickle.dumps(models)
        except Exception as exc:
            raise UserError(
                f"--executor ray: the model {model.spec} cannot be sent to the cluster's nodes "
                f"({type(exc).__name__}: {exc}); use a model spec each node can build"
            ) from None
        self.settings = settings
        self.per_actor: int = in_flight(settings, model)
        self._owns = connect(ray, settings.ray_address)
        try:
            nodes = [n for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) >= 1]
            if not nodes:
                raise UserError("--executor ray: the Ray cluster has no node with a CPU to run programs on")
            env = {"env_vars": {name: os.environ[name] for name in FORWARDED if name in os.environ}}
            remote = ray.remote(NodeWorker)
            self.actors = [
                remote.options(
                    num_cpus=0,
                    max_concurrency=self.per_actor + 4,
                    max_restarts=0,
                    runtime_env=env,
                    scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
                ).remote(settings, policy.model_dump_json(), models, int(n["Resources"]["CPU"]))
                for n in nodes
            ]
            self.live = set(range(len(self.actors)))
            self.nodes: list[NodeInfo] = self._all(lambda actor: actor.start.remote(), START_S)
        except BaseException:
            self.close()
            raise
        mine = metadata.version("mathcodebench")
        if other := [n for n in self.nodes if n.version != mine]:
            self.close()
            raise UserError(
                f"--executor ray: node {other[0].host} has mathcodebench {other[0].version}, this "
                f"driver {mine}; install the same version on every node"
            )
        self._usage: dict[int, Usage] = {}

    def _all(self, call: Any, timeout: float) -> list[Any]:
        """`call(actor)` on every live actor, waited for; a node's own error comes back as itself."""
        try:
            return self.ray.get([call(self.actors[i]) for i in sorted(self.live)], timeout=timeout)  # type: ignore[no-any-return]
        except self.ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        except self.ray.exceptions.RayError as exc:
            raise UserError(f"--executor ray: a node failed: {_last_line(exc)}") from None

    def isolation(self) -> dict[str, Any]:
        return combined(self.nodes)

    def run(self, plan: Plan, sink: DriverSink, finished: Finished) -> None:
        ray = self.ray
        stored = {unit: list(attempts) for unit, attempts in plan.stored.items()}
        graded = dict(plan.graded)
        if self.settings.grading_settings().needs_judge:
            entries = ray.put(plan.store.judge_entries())
            self._all(lambda actor: actor.prime.remote(entries), START_S)
        pending = deque(plan.todo)
        calls: dict[Any, _Call] = {}  # streaming call -> what it is solving
        carried: dict[str, list[Done]] = {}  # samples finished by calls lost with their node

        def feed() -> None:
            for i in sorted(self.live):
                while pending and sum(c.actor == i for c in calls.values()) < self.per_actor:
                    problem = pending.popleft()
                    units = [(problem.id, s) for s in range(1, self.settings.samples + 1)]
                    call = (
                        self.actors[i]
                        .solve.options(num_returns="streaming")
                        .remote(
                            problem,
                            {u: stored[u] for u in units if u in stored},
                            {u: graded[u] for u in units if u in graded},
                        )
                    )
                    calls[call] = _Call(i, problem)

        feed()
        try:
            while calls:
                ready, _ = ray.wait(list(calls), num_returns=1, timeout=WAIT_S)
                for call in ready:
                    if call not in calls:  # dropped with its node while handling another
                        continue
                    try:
                        event = ray.get(next(call))
                    except ray.exceptions.RayTaskError as exc:
                        raise _cause(exc) from None
                    except ray.exceptions.RayError as exc:
                        self._lose(calls[call].actor, exc, calls, pending, carried, stored, graded)
                        if not self.live:
                            raise Incomplete(
                                f"every Ray node of the run was lost; continue with mathcodebench "
                                f"run --resume {plan.store.path}"
                            ) from None
                        feed()
                        continue
                    job = calls[call]
                    if isinstance(event, ProblemDone):
                        del calls[call]
                        self._usage[job.actor] = event.usage
                        finished(
                            carried.pop(job.problem.id, [])
                            + [
                                Done(job.problem, sample, outcome, stored.get((job.problem.id, sample), []))
                                for sample, outcome in event.outcomes
                            ]
                        )
                        feed()
                    else:
                        _apply(event, job, sink, plan.store, stored, graded)
        finally:
            self._refresh_usage()

    def _lose(
        self,
        actor: int,
        exc: Exception,
        calls: dict[Any, _Call],
        pending: deque[Problem],
        carried: dict[str, list[Done]],
        stored: dict[Unit, list[Attempt]],
        graded: dict[Unit, Grade],
    ) -> None:
        """A node is gone: drop its calls (never read again) and send their problems to the other nodes."""
        lost = [(call, job) for call, job in calls.items() if job.actor == actor]
        log.warning(
            "mathcodebench: Ray node %s lost (%s); its %d problems in flight are solved elsewhere from "
            "their last stored attempt",
            self.nodes[actor].host,
            type(exc).__name__,
            len(lost),
        )
        self.live.discard(actor)
        with contextlib.suppress(self.ray.exceptions.RayError):  # already gone
            self.ray.kill(self.actors[actor], no_restart=True)
        for call, job in reversed(lost):
            del calls[call]
            pending.appendleft(job.problem)
            carried.setdefault(job.problem.id, []).extend(
                Done(
                    job.problem,
                    s,
                    Outcome.CORRECT if graded[(job.problem.id, s)].correct else Outcome.INCORRECT,
                    stored.get((job.problem.id, s), []),
                )
                for s in job.graded_here
            )

    def _refresh_usage(self) -> None:
        for i in sorted(self.live):
            try:
                self._usage[i] = self.ray.get(self.actors[i].usage.remote(), timeout=60)
            except self.ray.exceptions.RayError:
                continue  # its last count, sent with its last problem, stands

    def usage(self) -> Usage:
        return add_usage(list(self._usage.values()))

    def close(self) -> None:
        """Stop every node's sandbox (its scratch removed), end the actors, and leave the cluster."""
        ray = self.ray
        for i in sorted(getattr(self, "live", ())):
            with contextlib.suppress(ray.exceptions.RayError):  # lost meanwhile: its processes went with it
                ray.get(self.actors[i].close.remote(), timeout=60)
            ray.kill(self.actors[i], no_restart=True)
        self.live = set()
        if self._owns:
            ray.shutdown()
            self._owns = False


def _apply(
    event: Event,
    job: _Call,
    sink: DriverSink,
    store: RunStore,
    stored: dict[Unit, list[Attempt]],
    graded: dict[Unit, Grade],
) -> None:
    """Store one streamed step, and keep the driver's view of what is stored (what a redo continues from)."""
    if isinstance(event, AttemptMade):
        stored.setdefault((event.attempt.problem_id, event.attempt.sample), []).append(event.attempt)
        sink.add_attempt(event.attempt)
    elif isinstance(event, Graded):
        graded[event.unit] = event.grades[FINAL]
        job.graded_here.append(event.unit[1])
        sink.add_grades(event.unit, event.attempt, event.grades)
    elif isinstance(event, Voted):
        sink.set_votes(event.problem_id, event.classes)
    elif isinstance(event, GraderFailed):
        sink.grader_failed(event.why)
    elif isinstance(event, Judged):
        store.put(event.key, event.grade, event.reply)
