"""The embedded server's engine: a GGUF model run by llama-cpp-python, one token at a time.

This is the only module that imports llama_cpp. Generation is blocking (the server runs it
in a worker thread) and checks a cancellation flag between tokens, so a caller that hangs
up stops the model within one token. Sampling follows TGI's parameters: greedy unless a
temperature (or top_k/top_p/typical_p) asks for sampling, seeded when a seed is given.
Grammars arrive as GBNF text (a JSON schema's or a regex's translation) and are checked with
llama.cpp's own parser before use: ``LlamaGrammar.from_string`` only stores the text, and a
grammar llama.cpp cannot parse would reach the sampler chain as a null sampler.

``Llama.generate`` keeps the KV cache of the longest token prefix the new prompt shares with
the previous call's prompt and answer, so prompts that start alike are evaluated only from
where they differ.

Speculative decoding, when asked for, drafts tokens by prompt lookup or with a smaller model
(llm_gateway.embedded.draft) and lets ``Llama.generate`` verify them: one or the other, since
a Llama takes a single draft.
"""

import codecs
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
from llama_cpp.llama_grammar import json_schema_to_gbnf
from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

from llm_gateway.domain import FinishReason
from llm_gateway.embedded.draft import ModelDraft


@dataclass(frozen=True)
class GenerateParams:
    """TGI's generation parameters, validated (llm_gateway.embedded.protocol)."""

    max_new_tokens: int
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    typical_p: float | None = None
    repetition_penalty: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()
    grammar: str | None = None  # GBNF, rule root (json_schema_grammar, regex_grammar)

    @property
    def sampling(self) -> bool:
        return any(
            value is not None
            for value in (self.temperature, self.top_k, self.top_p, self.typical_p)
        )


@dataclass(frozen=True)
class GeneratedToken:
    """One generated token, as TGI reports it; ``finish`` is set on the last one only."""

    id: int
    text: str
    special: bool
    finish: FinishReason | None = None


def json_schema_grammar(schema: str) -> str:
    """The GBNF of a JSON schema (text), by llama-cpp-python's converter; ValueError if it
    cannot convert it."""
    try:
        return json_schema_to_gbnf(schema)
    except Exception as exc:  # the converter asserts and indexes on what it does not know
        raise ValueError(f"the JSON schema cannot be used as a grammar: {exc}") from exc


def check_grammar(gbnf: str, vocab: object = None) -> None:
    """Raise ValueError unless llama.cpp parses ``gbnf`` (its log says where it failed).

    ``vocab``: a model's vocabulary, as the server checks; None parses the text alone.
    """
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, gbnf.encode("utf-8"), b"root")
    if not sampler:
        raise ValueError("llama.cpp cannot parse the grammar")
    llama_cpp.llama_sampler_free(sampler)


def _check_model_file(path: Path) -> None:
    if not Path(path).is_file():
        raise FileNotFoundError(f"no model at {path}: run scripts/install_llm.sh (make llm) first")


class LlamaEngine:
    """A loaded GGUF model. Not thread-safe: one generation at a time (the server ensures it)."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int,
        threads: int,
        model_id: str = "",
        prompt_lookup_tokens: int = 0,
        draft_model_path: Path | None = None,
        draft_tokens: int = 4,
    ) -> None:
        """``prompt_lookup_tokens``: draft that many tokens by prompt lookup (0: off);
        ``draft_model_path``: draft ``draft_tokens`` tokens with that model (None: off)."""
        if prompt_lookup_tokens and draft_model_path is not None:
            raise ValueError("prompt lookup and a draft model exclude each other")
        _check_model_file(model_path)
        draft = None
        if prompt_lookup_tokens:
            draft = LlamaPromptLookupDecoding(num_pred_tokens=prompt_lookup_tokens)
        elif draft_model_path is not None:
            _check_model_file(draft_model_path)
            draft_llm = llama_cpp.Llama(
                str(draft_model_path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,  # only the last position's logits: it drafts greedily
            )
            draft = ModelDraft(draft_llm, draft_tokens)
        self._llm = llama_cpp.Llama(
            str(model_path),
            n_ctx=n_ctx,
            n_threads=threads,
            n_threads_batch=threads,
            draft_model=draft,
            # A draft needs every position's logits; llama-cpp-python sizes its logits store
            # by this argument alone, so leaving it False breaks after n_batch tokens.
            logits_all=draft is not None,
            verbose=False,
        )
        if isinstance(draft, ModelDraft):
            draft.check_vocabulary(self._llm)
        self.model_id = model_id or Path(model_path).stem
        self.n_ctx = n_ctx
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        template = self._llm.metadata.get("tokenizer.chat_template")
        self._chat = None
        if template:
            eos = self._llm._model.token_get_text(self._llm.token_eos())
            bos = self._llm._model.token_get_text(self._llm.token_bos())
            self._chat = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of ``text``; control tokens written in the text are read as such (as TGI)."""
        add_bos = self._llm._model.add_bos_token()
        return self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def token_text(self, token: int) -> str:
        return self._llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def chat_prompt(self, messages: list[dict]) -> str:
        """The model's own chat template (from the GGUF) applied to OpenAI-style messages."""
        if self._chat is None:
            raise ValueError("this model has no chat template")
        return self._chat(messages=messages).prompt

    def check_grammar(self, gbnf: str) -> None:
        """ValueError unless llama.cpp parses ``gbnf`` for this model (safe beside a generation:
        it only reads the vocabulary)."""
        check_grammar(gbnf, self._vocab)

    def _is_end(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self._vocab, token))

    def generate(
        self, prompt: list[int], params: GenerateParams, cancelled: threading.Event
    ) -> Iterator[GeneratedToken]:
        """Tokens until end of sequence, a stop sequence, max_new_tokens or cancellation."""
        llm = self._llm
        llm.set_seed(params.seed if params.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED)
        grammar = None
        if params.grammar is not None:
            grammar = llama_cpp.LlamaGrammar.from_string(params.grammar, verbose=False)
        sampling = params.sampling
        tokens = llm.generate(
            prompt,
            temp=(params.temperature or 1.0) if sampling else 0.0,
            top_k=params.top_k or 0,
            top_p=params.top_p or 1.0,
            min_p=0.0,
            typical_p=params.typical_p or 1.0,
            repeat_penalty=params.repetition_penalty or 1.0,
            grammar=grammar,
        )
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        longest_stop = max((len(stop) for stop in params.stop), default=0)
        text = ""
        try:
            for count, token in enumerate(tokens, start=1):
                if cancelled.is_set():
                    return
                if self._is_end(token):
                    yield GeneratedToken(token, self.token_text(token), True, FinishReason.EOS)
                    return
                piece = decoder.decode(llm.detokenize([token], special=False))
                text += piece
                finish = None
                tail = text[-(len(piece) + longest_stop) :]
                if any(stop in tail for stop in params.stop):
                    finish = FinishReason.STOP_SEQUENCE
                elif count >= params.max_new_tokens or len(prompt) + count >= self.n_ctx:
                    finish = FinishReason.LENGTH
                if finish is not None:
                    piece += decoder.decode(b"", final=True)
                yield GeneratedToken(token, piece, False, finish)
                if finish is not None:
                    return
        finally:
            tokens.close()
