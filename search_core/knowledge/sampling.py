"""FairNAD's fair idea sampling: a category uniformly, then an attribute uniformly within it,
among the ideas the active generator can realise."""

import random
from collections.abc import Callable

from search_core.knowledge.tree import Attribute, Idea, KnowledgeTree


class EmptyTreeError(ValueError):
    """A tree with no attribute to sample (none at all, or none the generator can realise)."""


class FairIdeaSampler:
    """Samples ideas so that every category is equally likely, however many ideas it holds.

    Sampling attributes uniformly over the whole tree would favour crowded categories (one
    with 20 attributes 10x over one with 2); FairNAD draws the category first. Only ideas
    `can_realise` accepts are drawn (the LLM can attempt every idea, the template composer
    only those its operators realise): drawing an idea and retrying when the generator cannot
    realise it would favour the categories it realises best. Categories left without an idea
    are never drawn.
    """

    def __init__(
        self,
        tree: KnowledgeTree,
        rng: random.Random,
        can_realise: Callable[[Attribute], bool] | None = None,
    ) -> None:
        keep = can_realise or (lambda attribute: True)
        self._ideas = [
            (category, kept)
            for category in tree.categories
            if (kept := [a for a in category.attributes if keep(a)])
        ]
        if not self._ideas:
            raise EmptyTreeError("the knowledge tree has no idea this generator can realise")
        self._rng = rng

    def sample(self) -> Idea:
        """One idea; unpacks as (category, attribute)."""
        category, attributes = self._rng.choice(self._ideas)
        return Idea(category, self._rng.choice(attributes))
