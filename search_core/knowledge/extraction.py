"""The `design_knowledge_extract` prompt's JSON answer as a KnowledgeTree fragment, and its merge.

The answer (llm_gateway/prompts/templates/design_knowledge_extract.v1.toml) is one object
whose keys are exactly the eight FairNAD categories, each a list of
{"attribute": name, "description": one sentence}. The gateway returns it as text; both the
text and the parsed object are accepted here.
"""

import json
from typing import Any

from search_core.knowledge.tree import (
    MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS,
    Attribute,
    Category,
    KnowledgeTree,
    MergeReport,
    normalise_name,
)

# The prompt's categories, in its order, with the titles the default tree gives them.
EXTRACTION_CATEGORIES = {
    "feature_extraction_operators": "Feature-extraction operators",
    "normalization": "Normalization",
    "activation": "Activation",
    "input_encoding": "Input encoding / stem",
    "residual_multi_branch": "Residual & multi-branch topology",
    "feature_fusion": "Feature fusion",
    "adaptive_recalibration": "Adaptive recalibration / attention",
    "network_level_scaling": "Network-level scaling",
}


class ExtractionError(ValueError):
    """An answer that does not follow the prompt's JSON schema; the message says where."""


def _parse(answer: Any) -> dict:
    if isinstance(answer, str | bytes):
        try:
            answer = json.loads(answer)
        except ValueError as exc:
            raise ExtractionError(f"the answer is not JSON: {exc}") from exc
    if not isinstance(answer, dict):
        raise ExtractionError(f"the answer must be a JSON object, got {type(answer).__name__}")
    missing = [key for key in EXTRACTION_CATEGORIES if key not in answer]
    if missing:
        raise ExtractionError(f"the answer lacks the categories {', '.join(missing)}")
    unknown = sorted(set(answer) - set(EXTRACTION_CATEGORIES))
    if unknown:
        raise ExtractionError(
            f"the answer has keys that are not categories: {', '.join(map(str, unknown))}"
        )
    return answer


def _idea(item: Any, path: str, source: str) -> Attribute:
    if not isinstance(item, dict):
        raise ExtractionError(f"{path}: an idea must be an object with attribute and description")
    name, description = item.get("attribute"), item.get("description")
    if not isinstance(name, str) or not normalise_name(name):
        raise ExtractionError(f"{path}.attribute: must be a non-empty name")
    if not isinstance(description, str) or not description.strip():
        raise ExtractionError(f"{path}.description: must be a non-empty sentence")
    name, description = " ".join(name.split()), " ".join(description.split())
    if len(name) > MAX_NAME_CHARS:
        raise ExtractionError(f"{path}.attribute: longer than {MAX_NAME_CHARS} characters")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise ExtractionError(f"{path}.description: longer than {MAX_DESCRIPTION_CHARS} characters")
    return Attribute(name=name, description=description, source=source)


def tree_fragment_from_answer(answer: Any, source: str = "") -> KnowledgeTree:
    """The ideas of one answer as a tree (empty categories kept), duplicates within it folded.

    `source` (e.g. the paper's title) is recorded on every idea. Raises ExtractionError.
    """
    data = _parse(answer)
    fragment = KnowledgeTree(
        [Category(key, title) for key, title in EXTRACTION_CATEGORIES.items()], name="extracted"
    )
    for key in EXTRACTION_CATEGORIES:
        items = data[key]
        if not isinstance(items, list):
            raise ExtractionError(f"{key}: must be a list of ideas")
        for index, item in enumerate(items):
            idea = _idea(item, f"{key}[{index}]", source)
            fragment.merge(KnowledgeTree([Category(key, EXTRACTION_CATEGORIES[key], "", (idea,))]))
    return fragment


def merge_answer(tree: KnowledgeTree, answer: Any, source: str = "") -> MergeReport:
    """Parse an answer and merge its ideas into `tree` in place; returns what changed."""
    return tree.merge(tree_fragment_from_answer(answer, source))
