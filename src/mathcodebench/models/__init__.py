"""Model backends behind one protocol (`ChatModel`), chosen by a spec string."""

from .base import Capabilities, ChatModel, Completion, FatalModelError, GenerationParams, Message, ModelError
from .registry import BACKENDS, DEFAULT_MODEL, create_model

__all__ = ["BACKENDS", "DEFAULT_MODEL", "Capabilities", "ChatModel", "Completion", "FatalModelError",
           "GenerationParams", "Message", "ModelError", "create_model"]
