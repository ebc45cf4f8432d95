"""Model backends behind one protocol (`ChatModel`), chosen by a spec string."""

from .base import (
    Capabilities,
    ChatModel,
    Completion,
    FatalModelError,
    GenerationParams,
    Message,
    ModelError,
    PrefixModel,
)
from .registry import BACKENDS, DEFAULT_MODEL, create_model
from .template import BUILTIN as CHAT_TEMPLATES

__all__ = [
    "BACKENDS",
    "CHAT_TEMPLATES",
    "DEFAULT_MODEL",
    "Capabilities",
    "ChatModel",
    "Completion",
    "FatalModelError",
    "GenerationParams",
    "Message",
    "ModelError",
    "PrefixModel",
    "create_model",
]
