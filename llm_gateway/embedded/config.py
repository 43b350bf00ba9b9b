"""Settings of the embedded model server (env prefix NASFORGE_EMBEDDED_), read once in main."""

from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llm_gateway.embedded.reasoning import ReasoningField, ReasoningParserName


class EmbeddedSettings(BaseSettings):
    """Which GGUF model to serve, how many threads it gets, and the server's limits."""

    model_config = SettingsConfigDict(env_prefix="NASFORGE_EMBEDDED_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8090, ge=0, le=65535, description="HTTP port; 0 picks a free one.")
    model_path: Path = Field(
        Path("var/models/qwen2.5-coder-0.5b.gguf"),
        description="GGUF file (scripts/install_llm.sh assembles it).",
    )
    model_id: str = Field("", description="Name /info reports; empty: the file's stem.")
    threads: int = Field(
        1,
        ge=1,
        le=64,
        description="llama.cpp threads. They spin: beside other work, more threads than free "
        "cores is far slower (measured here: 2 threads 3 tok/s, 1 thread 13 tok/s, 0.5B).",
    )
    max_total_tokens: int = Field(4096, ge=64, description="Context size: prompt + answer.")
    max_input_tokens: int = Field(3584, ge=16, description="Longest prompt accepted.")
    default_max_new_tokens: int = Field(
        20, ge=1, description="max_new_tokens when a request gives none (TGI's default)."
    )
    max_concurrent_requests: int = Field(
        32, ge=1, description="Requests running or queued before answering 429 overloaded."
    )
    max_stop_sequences: int = Field(4, ge=0, description="Stop sequences a request may give.")
    prompt_lookup_tokens: int = Field(
        0,
        ge=0,
        le=32,
        description="Prompt-lookup speculative decoding: draft up to this many tokens by "
        "copying what followed the last tokens' earlier occurrence in the context; 0: off. It "
        "needs every position's logits, so it costs n_ctx x vocabulary x 4 bytes of memory "
        "(2.5 GB at 4096 for Qwen2.5) and 50% slower prompts. Measured here (0.5B, 1 thread, "
        "a 1,033-token 'rewrite with one change' prompt, 200 tokens): 38-40 tok/s with 10, "
        "31 with 4, 36-39 off: on a CPU, verifying a draft costs about what it saves.",
    )
    draft_model_path: Path | None = Field(
        None,
        description="Speculative decoding with a smaller model of the same vocabulary (e.g. "
        "the 0.5B drafting for the 1.5B): it guesses draft_tokens tokens greedily, the served "
        "model checks them in one pass; unset or empty: off. Like prompt lookup it needs every "
        "position's logits (n_ctx x vocabulary x 4 bytes); bench/speculative.py measures it.",
    )
    draft_tokens: int = Field(
        4, ge=1, le=32, description="Tokens the draft model guesses at each step."
    )
    reasoning_parser: ReasoningParserName = Field(
        "",
        description="Like vLLM's --reasoning-parser, for /v1/chat/completions: return a "
        "reasoning model's <think> block apart from the content. deepseek_r1: the answer "
        "starts inside the block (the template opened it); qwen3: the model opens it; empty: "
        "off, the reasoning stays in the content.",
    )
    reasoning_field: ReasoningField = Field(
        "reasoning",
        description="The field the reasoning goes into: reasoning (vLLM 0.11 and later) or "
        "reasoning_content (earlier vLLM, SGLang, llama.cpp's server).",
    )

    @field_validator("draft_model_path", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return None if value == "" else value  # Path("") would be the current directory

    @model_validator(mode="after")
    def _one_draft(self) -> "EmbeddedSettings":
        # llama-cpp-python's Llama takes a single draft_model.
        if self.prompt_lookup_tokens and self.draft_model_path is not None:
            raise ValueError(
                "choose one kind of speculative decoding: NASFORGE_EMBEDDED_PROMPT_LOOKUP_TOKENS "
                "or NASFORGE_EMBEDDED_DRAFT_MODEL_PATH, not both"
            )
        return self
