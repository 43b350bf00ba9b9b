"""FairNAD: fair idea sampling, Pareto-aware mutation, LLM refinement and a feedback loop.

Each slot after the initial population is one of the paper's mutation types:
(I) a fairly sampled knowledge-tree idea applied to a parent chosen by tournament (fair among
the ideas the generator can realise: every idea for the LLM, for the template composer those
that change this parent);
(II) every `pareto_every`-th slot, a member of the accuracy/size front of every success so far:
small models are scaled up, large ones get their hyperparameters tuned (by the LLM, answering
JSON, with the LLM generator);
(III) every `refine_every`-th slot (LLM generator), the best model is refined with the
feedback of the search so far (errors, learning curves, the delta to its parent).
With the template generator the same operators act on genomes and no LLM is called.
"""

import json
import random
from dataclasses import replace

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, Generator, ZooModel
from search_core.engine.feedback import learning_curve_records
from search_core.engine.proposals import NotInStore, Proposal
from search_core.generation.memory import feedback_memory, search_feedback
from search_core.knowledge.sampling import FairIdeaSampler
from search_core.knowledge.tree import KnowledgeTree
from search_core.methods.template_proposals import template_proposal
from search_core.pareto import ParetoPoint, pareto_front, split_small_large
from search_core.search_config import SearchConfig
from search_core.services import PromptRequest
from search_core.template.genome import Genome, genome_from_dict
from search_core.template.operators import (
    random_genome,
    realisations,
    scale_up,
    tune_hyperparameters,
)

TOURNAMENT = 3
REFINE_FEEDBACK_CHARS = 4000  # the refinement prompt takes up to 8000


def _successes(history: list[CandidateRecord]) -> list[CandidateRecord]:
    return [c for c in history if c.outcome is Outcome.SUCCESS and c.score is not None]


class FairNadMethod:
    def __init__(self, config: SearchConfig, tree: KnowledgeTree, zoo: list[ZooModel]) -> None:
        self._config = config
        self._tree = tree
        self._llm = config.generator == Generator.LLM
        names = config.fairnad.seed_models
        seeds = [m for m in zoo if m.task == config.task.task and (not names or m.name in names)]
        self._seeds = sorted(seeds, key=lambda m: m.name)
        if self._llm and not self._seeds:
            raise NotInStore(f"no zoo model to seed the search from (asked for {names})")

    def propose(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        fairnad = self._config.fairnad
        population = sorted(_successes(history), key=lambda c: -c.score)[: fairnad.population_size]
        if slot < fairnad.population_size or not population:
            return self._seed(slot, rng, history)
        if fairnad.pareto_every and slot % fairnad.pareto_every == 0:
            return self._pareto(rng, history)
        if self._llm and fairnad.refine_every and slot % fairnad.refine_every == 0:
            return self._refine(population[0], history)
        parent = max(
            rng.sample(population, min(TOURNAMENT, len(population))), key=lambda c: c.score
        )
        return self._apply_idea(rng, parent, history)

    # -- the initial population

    def _seed(self, slot: int, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        if not self._llm:
            # A random architecture with the standard training recipe: the search tunes the
            # recipe later (Pareto-aware mutation); the random baseline samples both.
            genome = replace(random_genome(rng), **Genome().hyperparameters)
            return template_proposal(self._config, genome, mutation="seed")
        parent = self._seeds[slot % len(self._seeds)]
        category, attribute = FairIdeaSampler(self._tree, rng).sample()
        return self._idea_prompt(parent.name, parent.code, category, attribute, history)

    # -- (I) fair idea sampling

    def _apply_idea(
        self, rng: random.Random, parent: CandidateRecord, history: list[CandidateRecord]
    ) -> Proposal:
        if self._llm or parent.genome is None:
            category, attribute = FairIdeaSampler(self._tree, rng).sample()
            return self._idea_prompt(parent.candidate_id, parent.code, category, attribute, history)
        genome = genome_from_dict(parent.genome)
        children = realisations(genome, (a for _, a in self._tree.attributes()), rng)
        if not children:  # the parent has every idea the composer realises: grow it instead
            return template_proposal(
                self._config, scale_up(genome, rng), mutation="scale_up", parent=parent
            )
        sampler = FairIdeaSampler(self._tree, rng, lambda attribute: attribute.name in children)
        category, attribute = sampler.sample()
        return template_proposal(
            self._config,
            children[attribute.name],
            mutation="fair_idea",
            parent=parent,
            idea={"category": category.name, "attribute": attribute.name},
        )

    def _idea_prompt(self, parent, parent_code, category, attribute, history) -> Proposal:
        """Apply one idea to `parent` (a candidate id or a zoo name) with the LLM: in edit
        mode the prompt asks for the changes only and carries the search's memory."""
        task = self._config.task
        variables = {
            "parent_code": parent_code,
            "category": category.name,
            "idea": attribute.name,
            "idea_description": attribute.description,
            "dataset": task.dataset,
            "image_size": str(task.in_shape[-1]),
            "num_classes": str(task.out_shape[0]),
        }
        return self._llm_proposal(
            "fairnad_apply_idea",
            variables,
            history,
            parent=parent,
            parent_code=parent_code,
            mutation="fair_idea",
            idea={"category": category.name, "attribute": attribute.name},
        )

    def _llm_proposal(
        self,
        template: str,
        variables: dict[str, str],
        history: list[CandidateRecord],
        **proposal,
    ) -> Proposal:
        """An LLM proposal from `template`; in edit mode its `_edit` variant, which asks for
        the changes only and carries the search's feedback memory."""
        generation = self._config.generation
        edit = generation.mode == "edit"
        memory = ""
        if edit:
            memory = feedback_memory(history, generation.memory_window, generation.memory_chars)
            variables = {**variables, "memory": memory}
            template = f"{template}_edit"
        return Proposal(
            prefix="FairNAD-LLM",
            generator=Generator.LLM,
            prompt=PromptRequest(template, variables),
            edit=edit,
            memory=memory,
            **proposal,
        )

    # -- (II) Pareto-aware mutation

    def _pareto(self, rng: random.Random, history: list[CandidateRecord]) -> Proposal:
        """A member of the accuracy/size front of every success so far (a model the population
        has since dropped may still be on it): small ones grow, large ones are tuned."""
        successes = _successes(history)
        points = [ParetoPoint(c.candidate_id, c.score, c.parameter_count or 0) for c in successes]
        small, large = split_small_large(pareto_front(points))
        chosen = rng.choice(small + large)
        parent = next(c for c in successes if c.candidate_id == chosen.id)
        grow = chosen in small
        if self._llm or parent.genome is None:
            return self._scale_up_prompt(parent, history) if grow else self._tune_prompt(parent)
        genome = genome_from_dict(parent.genome)
        child = scale_up(genome, rng) if grow else tune_hyperparameters(genome, rng)
        if child == genome:  # at the size limits: tune instead of growing
            grow, child = False, tune_hyperparameters(genome, rng)
        return template_proposal(
            self._config,
            child,
            mutation="scale_up" if grow else "tune_hyperparameters",
            parent=parent,
        )

    def _scale_up_prompt(self, parent: CandidateRecord, history: list[CandidateRecord]) -> Proposal:
        target = max(2 * (parent.parameter_count or 1), 10_000)
        variables = {
            "parent_code": parent.code,
            "parameter_count": str(parent.parameter_count or 1),
            "accuracy": f"{parent.score:.4f}",
            "target_parameters": str(min(target, self._config.parameter_budget)),
        }
        return self._llm_proposal(
            "fairnad_scale_up",
            variables,
            history,
            parent=parent.candidate_id,
            parent_code=parent.code,
            mutation="scale_up",
        )

    def _tune_prompt(self, parent: CandidateRecord) -> Proposal:
        """The LLM proposes new hyperparameters from the learning curves (JSON); the engine
        sets them into the parent's code, whose architecture stays."""
        variables = {
            "code": parent.code,
            "hyperparameters": json.dumps(parent.hyperparameters, sort_keys=True),
            "learning_curves": json.dumps(learning_curve_records(parent)),
        }
        return Proposal(
            prefix="FairNAD-Tuned",
            generator=Generator.TEMPLATE,
            tuning_prompt=PromptRequest("fairnad_tune_hyperparameters", variables),
            parent=parent.candidate_id,
            parent_code=parent.code,
            mutation="tune_hyperparameters",
        )

    # -- (III) LLM-driven refinement with the feedback loop

    def _refine(self, best: CandidateRecord, history: list[CandidateRecord]) -> Proposal:
        """The best model, refined from what the search learnt: check errors, training
        results (validation curves, deltas to the parent, training failures), its own curve
        beside its parent's. Validation figures only: test scores never steer."""
        parent = next((c for c in history if c.candidate_id == best.parent), None)
        curves = {c.name or c.candidate_id: learning_curve_records(c) for c in (parent, best) if c}
        idea = best.idea.get("attribute") or best.mutation or "the model as a whole"
        variables = {
            "code": best.code,
            "idea": idea,
            "feedback": search_feedback(history, REFINE_FEEDBACK_CHARS),
            "learning_curves": json.dumps(curves),
            "delta": _delta(best, parent),
        }
        return self._llm_proposal(
            "fairnad_refine",
            variables,
            history,
            parent=best.candidate_id,
            parent_code=best.code,
            mutation="refine",
            idea=dict(best.idea),
        )


def _delta(child: CandidateRecord, parent: CandidateRecord | None) -> str:
    """How the child's validation score and size compare with its parent's."""
    if parent is None or parent.score is None:
        return "no scored parent"
    text = f"{child.score - parent.score:+.4f} validation score against its parent"
    if child.parameter_count and parent.parameter_count:
        text += f", {child.parameter_count / parent.parameter_count - 1:+.0%} parameters"
    return text
