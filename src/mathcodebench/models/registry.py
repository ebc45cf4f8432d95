"""Model spec strings -> backends. Adding a backend is adding one file and one entry here."""

from __future__ import annotations

from ..errors import UserError
from . import embedded
from .base import ChatModel

DEFAULT_MODEL = "embedded"


def create_model(spec: str) -> ChatModel:
    if spec in embedded.SPECS:
        return embedded.EmbeddedModel(spec)
    known = ", ".join(embedded.SPECS)
    raise UserError(f"unknown model spec {spec!r} (available: {known})")
