"""FairNAD's fair idea sampling: a category uniformly, then an attribute uniformly within it."""

import random

from search_core.knowledge.tree import Idea, KnowledgeTree


class EmptyTreeError(ValueError):
    """A tree with no attribute to sample."""


class FairIdeaSampler:
    """Samples ideas so that every category is equally likely, however many ideas it holds.

    Sampling attributes uniformly over the whole tree would favour crowded categories (one
    with 20 attributes 10x over one with 2); FairNAD draws the category first. Categories
    without attributes are never drawn.
    """

    def __init__(self, tree: KnowledgeTree, rng: random.Random) -> None:
        self._categories = [c for c in tree.categories if c.attributes]
        if not self._categories:
            raise EmptyTreeError("the knowledge tree has no attributes to sample")
        self._rng = rng

    def sample(self) -> Idea:
        """One idea; unpacks as (category, attribute)."""
        category = self._rng.choice(self._categories)
        return Idea(category, self._rng.choice(category.attributes))
