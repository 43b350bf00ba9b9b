"""NN-Caption: a captioning baseline plus k classification snippets in one prompt per candidate.

As in "LLM as a Neural Architect" (2025): k = 5 or 10 classification models sampled from
the zoo (never the baseline's own encoder family) go into the prompt with the baseline;
the candidate is named `C{k}C-<baseline>-<md5>`.

A generated captioner means something only next to its baseline trained the same way, so
(with `nn_caption.train_baselines`, the default) the first slots train each baseline the
prompts compose from, unchanged, as a template candidate named `<baseline>-<md5>` with
mutation "baseline". Those slots count in `max_candidates`: a budget of n makes
n - (number of baselines) LLM candidates.
"""

import random

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.domain import CandidateRecord, Generator, ZooModel
from search_core.engine.proposals import BASELINE_MUTATION, NotInStore, Proposal
from search_core.generation.memory import feedback_memory
from search_core.search_config import SearchConfig, SearchConfigError
from search_core.services import PromptRequest
from search_core.zoo import sample_snippets


def is_campaign_baseline(candidate: CandidateRecord) -> bool:
    """Whether the candidate is a zoo baseline trained unchanged in its campaign, not a
    generated model: the report compares with it and never counts it as an LLM attempt."""
    return candidate.generator == Generator.TEMPLATE and candidate.mutation == BASELINE_MUTATION


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
        self._baseline_slots = len(self._baselines) if config.nn_caption.train_baselines else 0
        if config.max_candidates <= self._baseline_slots:
            raise SearchConfigError(
                f"max_candidates ({config.max_candidates}) leaves no LLM candidate after the "
                f"{self._baseline_slots} baseline slot(s) of nn_caption.train_baselines"
            )

    def snippet_count(self, llm_slot: int) -> int:
        """k of the `llm_slot`-th LLM candidate (baseline slots not counted)."""
        if self._config.nn_caption.alternate_k:
            return 5 if llm_slot % 2 == 0 else 10
        return self._config.nn_caption.snippets_per_prompt

    def propose(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        if slot < self._baseline_slots:
            return _baseline_proposal(self._baselines[slot])
        return self._composition(slot - self._baseline_slots, rng, history)

    def _composition(
        self, llm_slot: int, rng: random.Random, history: list[CandidateRecord]
    ) -> Proposal:
        """The LLM candidate: a baseline (in turn) and k snippets in one prompt."""
        baseline = self._baselines[llm_slot % len(self._baselines)]
        k = self.snippet_count(llm_slot)
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


def _baseline_proposal(baseline: ZooModel) -> Proposal:
    """The zoo baseline as it is, trained like every candidate of the search."""
    return Proposal(
        prefix=baseline.name,
        generator=Generator.TEMPLATE,
        code=baseline.code,
        parent=baseline.name,
        mutation=BASELINE_MUTATION,
    )
