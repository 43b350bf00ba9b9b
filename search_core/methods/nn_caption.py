"""NN-Caption: a captioning baseline plus k classification snippets in one prompt per candidate.

As in "LLM as a Neural Architect" (2025): k = 5 or 10 classification models sampled from
the zoo (never the baseline's own encoder family) go into the prompt with the baseline;
the candidate is named `C{k}C-<baseline>-<md5>`.
"""

import random

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.domain import CandidateRecord, Generator, ZooModel
from search_core.engine.proposals import NotInStore, Proposal
from search_core.generation.memory import feedback_memory
from search_core.search_config import SearchConfig
from search_core.services import PromptRequest
from search_core.zoo import sample_snippets


class NnCaptionMethod:
    def __init__(self, config: SearchConfig, zoo: list[ZooModel]) -> None:
        self._config = config
        self._classifiers = [m for m in zoo if m.task == IMG_CLASSIFICATION]
        captioners = sorted((m for m in zoo if m.task == IMG_CAPTIONING), key=lambda m: m.name)
        wanted = config.nn_caption.baseline
        self._baselines = [m for m in captioners if not wanted or m.name == wanted]
        if not self._baselines:
            raise NotInStore(f"no captioning baseline {wanted!r} in the zoo")
        if len(self._classifiers) < 10:
            raise NotInStore("the zoo needs at least 10 classification models for k = 10")

    def snippet_count(self, slot: int) -> int:
        k = self._config.nn_caption.snippets_per_prompt
        if self._config.nn_caption.alternate_k:
            return 5 if slot % 2 == 0 else 10
        return k

    def propose(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        baseline = self._baselines[slot % len(self._baselines)]
        k = self.snippet_count(slot)
        snippets = sample_snippets(self._classifiers, baseline, k, rng)
        side = self._config.task.in_shape[-1]
        generation = self._config.generation
        edit = generation.mode == "edit"
        variables = {"baseline_code": baseline.code, "image_size": str(side)}
        memory = ""
        if edit:
            memory = feedback_memory(history, generation.memory_window, generation.memory_chars)
            variables["memory"] = memory
        return Proposal(
            prefix=f"C{k}C-{baseline.name}",
            generator=Generator.LLM,
            prompt=PromptRequest(
                "nn_caption_generate_edit" if edit else "nn_caption_generate",
                variables,
                {"classification_snippets": [m.code for m in snippets]},
            ),
            parent=baseline.name,
            parent_code=baseline.code,
            examples=[baseline.code, *(m.code for m in snippets)],
            mutation="compose",
            snippets=[m.name for m in snippets],
            edit=edit,
            memory=memory,
        )
