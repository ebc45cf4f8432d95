"""Chat templates rendered to raw text, so a response can be continued from a prefix through a raw-completion
endpoint (token-by-token regeneration). The embedded model brings its own (GGUF metadata); a server's model
needs one named here or given as a Jinja file, because no OpenAI- or Ollama-protocol server reveals its own."""

from __future__ import annotations

from pathlib import Path

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from ..errors import UserError
from .base import Message

BUILTIN = {
    # Qwen2.x, many fine-tunes, and what llama.cpp's server uses by default.
    "chatml": "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
    # Llama 3 / 3.1 instruct.
    "llama3": "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n"
    "{{ m.content }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
}
BUILTIN_BOS = {"llama3": "<|begin_of_text|>"}


class ChatTemplate:
    """A Jinja chat template (Hugging Face conventions) that renders a conversation up to the assistant's turn."""

    def __init__(self, source: str, name: str, bos_token: str = "", eos_token: str = "") -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        try:
            self._template = env.from_string(source)
        except TemplateError as exc:
            raise UserError(f"chat template {name}: {exc}") from None
        self.name = name
        self._bos, self._eos = bos_token, eos_token

    def render(self, messages: list[Message]) -> str:
        def raise_exception(message: str) -> None:
            raise UserError(f"chat template {self.name}: {message}")

        return self._template.render(
            messages=[m.model_dump() for m in messages],
            add_generation_prompt=True,
            bos_token=self._bos,
            eos_token=self._eos,
            raise_exception=raise_exception,
        )

    @classmethod
    def named(cls, spec: str) -> ChatTemplate:
        """A built-in name (chatml, llama3) or the path of a Jinja file."""
        if spec in BUILTIN:
            return cls(BUILTIN[spec], spec, bos_token=BUILTIN_BOS.get(spec, ""))
        path = Path(spec)
        try:
            return cls(path.read_text(encoding="utf-8"), spec)
        except OSError as exc:
            raise UserError(
                f"--chat-template {spec}: not a built-in ({', '.join(BUILTIN)}) "
                f"and not a readable file ({exc.strerror})"
            ) from None


class ServerTemplate:
    """For server backends: render with the template the user named (`--chat-template`)."""

    spec: str
    template: ChatTemplate | None = None

    def render(self, messages: list[Message]) -> str:
        if self.template is None:
            raise UserError(
                f"{self.spec}: token-by-token regeneration continues raw text, so it needs the model's "
                f"chat template: pass --chat-template ({', '.join(BUILTIN)} or a Jinja file)"
            )
        return self.template.render(messages)
