"""Knowledge trees in the store: read one by name, merge an LLM extraction into one."""

from typing import Any

from search_core.domain import KnowledgeTreeRecord
from search_core.knowledge.extraction import merge_answer
from search_core.knowledge.tree import KnowledgeTree, MergeReport


def stored_tree(store, name: str) -> KnowledgeTree:
    """The tree ``name`` of ``store``; the shipped default when ``name`` is empty or the
    store has no tree of that name yet."""
    record = store.get_knowledge_tree(name) if name else None
    return KnowledgeTree.from_dict(record.document) if record else KnowledgeTree.default()


def merge_extraction(
    store, name: str, answer: Any, source: str = ""
) -> tuple[KnowledgeTree, MergeReport]:
    """Merge the ideas of an extraction ``answer`` into the stored tree ``name`` (starting
    from the shipped default) and store the result; the tree and what changed. Raises
    ExtractionError, storing nothing, when the answer is not a usable tree."""
    tree = stored_tree(store, name)
    report = merge_answer(tree, answer, source=source)
    store.put_knowledge_tree(KnowledgeTreeRecord(name, tree.to_dict()))
    return tree, report
