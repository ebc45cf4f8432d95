"""Today's executor: threads in the driver's own process, one sandbox pool on this machine."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from ..data import Problem
from ..errors import UserError
from ..grading import Grading
from ..models import ChatModel
from ..sandbox import Sandbox, SandboxError
from ..settings import Settings
from ..solve import SolvePolicy
from ..work import Done, Worker
from .base import DriverSink, Finished, Plan, Usage, in_flight, roles, usage_now, usage_since


def sandbox_record(sandbox: Sandbox) -> dict[str, Any]:
    """The sandbox's isolation record (a fresh self-test included), as stored with the run. A sandbox that fails
    while testing itself stops the run before it starts, in one line (the caller closes it)."""
    report = getattr(sandbox, "isolation", None)
    if not callable(report):
        return {"mode": sandbox.name, "layers": list(sandbox.layers), "missing": list(sandbox.missing)}
    try:
        return report().model_dump(mode="json")  # type: ignore[no-any-return]
    except SandboxError as exc:
        raise UserError(f"--sandbox {sandbox.requested}: the sandbox failed its self-test: {exc}") from None


class LocalExecutor:
    """Up to `concurrency` problems in flight at once, as threads (the model backend bounds its own requests, the
    sandbox pool its executions). On Ctrl-C, an outage or a fatal error, workers stop after the attempt they are
    in is stored."""

    name = "local"

    def __init__(
        self, settings: Settings, policy: SolvePolicy, model: ChatModel, judge: ChatModel | None, sandbox: Sandbox
    ) -> None:
        self.settings, self.policy, self.model, self.judge, self.sandbox = settings, policy, model, judge, sandbox
        self._models = roles(model, judge)
        self._start = usage_now(self._models)

    def isolation(self) -> dict[str, Any]:
        return sandbox_record(self.sandbox)

    def run(self, plan: Plan, sink: DriverSink, finished: Finished) -> None:
        workers = in_flight(self.settings, self.model)
        grading = Grading(self.settings.grading_settings(), self.judge, plan.store)
        worker = Worker(self.model, self.sandbox, grading, self.policy)

        def work(problem: Problem) -> list[Done]:
            return worker.solve_problem(problem, plan.stored, plan.graded, sink)

        try:
            if workers == 1:
                for problem in plan.todo:
                    finished(work(problem))
                return
            with ThreadPoolExecutor(workers, thread_name_prefix="mcb-problem") as pool:
                futures = [pool.submit(work, problem) for problem in plan.todo]
                try:
                    for future in as_completed(futures):
                        finished(future.result())  # re-raises a worker's exception here
                except BaseException:
                    sink.stop.set()
                    for future in futures:
                        future.cancel()
                    raise
        finally:
            grading.close()

    def usage(self) -> Usage:
        return usage_since(self._models, self._start)

    def close(self) -> None:
        self.sandbox.close()
