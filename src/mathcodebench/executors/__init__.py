"""Where a run's problems are solved: `local` (threads in the driver's process, today's behaviour) or `ray`
(one actor per node of a Ray cluster). Either way the driver stores every step, so the results are the same."""

from __future__ import annotations

import os

from ..models import ChatModel
from ..sandbox import Sandbox, create_sandbox
from ..settings import Settings
from ..solve import SolvePolicy
from .base import DriverSink, Executor, Finished, Plan, Usage, sandbox_servers
from .local import LocalExecutor


def create_executor(
    settings: Settings, policy: SolvePolicy, model: ChatModel, judge: ChatModel | None, sandbox: Sandbox | None = None
) -> Executor:
    """Start the executor the settings name: its sandbox pools run (here, or on every node) when this returns.
    `sandbox`: a sandbox to use instead of starting one (local only)."""
    if settings.executor == "ray":
        from .ray import RayExecutor  # Ray is an optional extra: imported only when asked for

        return RayExecutor(settings, policy, model, judge)
    if sandbox is None:
        sandbox = create_sandbox(settings.sandbox, workers=sandbox_servers(settings, model, os.cpu_count() or 1))
    return LocalExecutor(settings, policy, model, judge, sandbox)


__all__ = ["DriverSink", "Executor", "Finished", "LocalExecutor", "Plan", "Usage", "create_executor"]
