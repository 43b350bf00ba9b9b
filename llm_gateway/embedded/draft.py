"""A smaller model as the draft of speculative decoding: it guesses the next tokens greedily.

llama-cpp-python's ``Llama.generate`` calls its ``draft_model`` after every verification step
with the whole token history (prompt, accepted answer and the token just sampled) and expects
the guessed continuation back; it says nothing about how many of the last guesses it accepted.
So the draft keeps its own KV cache and, on each call, keeps the longest prefix that cache
shares with the history, evaluating only the tokens after it: the accepted guesses (and the
newly sampled token) in one batch, a rejected guess removed from the cache.
"""

from collections.abc import Sequence

import llama_cpp
import numpy as np
import numpy.typing as npt
from llama_cpp.llama_speculative import LlamaDraftModel


def reusable_prefix(cached: Sequence[int], history: Sequence[int]) -> int:
    """How many tokens of the cache to keep: the common prefix of ``cached`` and ``history``,
    less one if it covers all of ``history`` (a token must be evaluated to have logits)."""
    common = 0
    for cached_token, token in zip(cached, history, strict=False):
        if cached_token != token:
            break
        common += 1
    return min(common, len(history) - 1)


class ModelDraft(LlamaDraftModel):
    """Drafts ``num_pred_tokens`` tokens greedily with ``llm``, a model of the same vocabulary.

    ``llm`` is this draft's own: its cache must not be used by anything else. It needs only
    the last position's logits (``logits_all=False``) and a context as long as the target's.
    """

    def __init__(self, llm: llama_cpp.Llama, num_pred_tokens: int) -> None:
        self._llm = llm
        self.num_pred_tokens = num_pred_tokens

    def check_vocabulary(self, target: llama_cpp.Llama) -> None:
        """ValueError unless ``target`` has this draft's vocabulary size (token ids must agree;
        the size is what can be checked cheaply)."""
        if self._llm.n_vocab() != target.n_vocab():
            raise ValueError(
                f"the draft model {self._llm.model_path} has {self._llm.n_vocab()} tokens, "
                f"the model {target.model_path} {target.n_vocab()}: they must share a vocabulary"
            )

    def __call__(self, input_ids: npt.NDArray[np.intc], /, **kwargs) -> npt.NDArray[np.intc]:
        llm = self._llm
        history = input_ids.tolist()
        count = min(self.num_pred_tokens, llm.n_ctx() - len(history))
        if count <= 0 or not history:
            return np.array([], dtype=np.intc)
        # Llama.eval first drops the cache from position n_tokens on, then appends.
        llm.n_tokens = reusable_prefix(llm.input_ids[: llm.n_tokens].tolist(), history)
        llm.eval(history[llm.n_tokens :])
        drafted: list[int] = []
        while True:
            token = self._next_token()
            if token is None:
                break  # the target decides itself whether the answer ends here
            drafted.append(token)
            if len(drafted) == count:
                break  # the last guess is evaluated on the next call, if it was accepted
            llm.eval([token])
        return np.array(drafted, dtype=np.intc)

    def _next_token(self) -> int | None:
        """The most likely token after the last one evaluated; None if it ends the answer."""
        llm = self._llm
        logits = llama_cpp.llama_get_logits_ith(llm.ctx, -1)  # the last position's only
        token = int(np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).argmax())
        if llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm.model), token):
            return None
        return token
