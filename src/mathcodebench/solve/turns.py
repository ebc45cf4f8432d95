"""One step of a tool-integrated solution, as stored with its attempt (and shown by the viewer)."""

from __future__ import annotations

from pydantic import BaseModel


class Turn(BaseModel):
    """Text the model generated, the code block it closed (if any) and what running it printed."""

    text: str
    code: str | None = None
    output: str | None = None  # as shown to the model
    status: str | None = None  # the execution's status (ok, error, timeout, ...)
    gen_s: float = 0.0
    exec_s: float = 0.0
    completion_tokens: int = 0
