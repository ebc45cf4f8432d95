"""Model backends behind one protocol (`ChatModel`), chosen by a spec string."""

from .base import ChatModel, Completion, GenerationParams, Message, ModelError
from .registry import DEFAULT_MODEL, create_model

__all__ = ["DEFAULT_MODEL", "ChatModel", "Completion", "GenerationParams", "Message", "ModelError", "create_model"]
