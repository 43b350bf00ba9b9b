"""FairNAD's design-knowledge tree: categories of attributes (design ideas), merge and validation.

The JSON document (default_tree.json, and what the store keeps):

    {
      "version": 1,
      "name": "default",
      "categories": [
        {
          "name": "adaptive_recalibration",         # snake_case, unique
          "title": "Adaptive recalibration / attention",
          "description": "What ideas of this category change.",   # optional
          "attributes": [
            {
              "name": "Squeeze-and-Excitation",    # unique in the tree (see dedup_key)
              "description": "One to three sentences an LLM can act on.",
              "apply": {"op": "set", "field": "attention", "value": "se"},  # optional
              "source": "Hu et al. 2018"           # optional: where the idea came from
            }
          ]
        }
      ]
    }

`apply` is the machine-readable change the template composer can make for the idea (one op
or a list of ops; search_core.template.operators documents them). Ideas without it are
realised by an LLM only.
"""

import copy
import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any, NamedTuple

TREE_VERSION = 1
MAX_NAME_CHARS = 120
MAX_DESCRIPTION_CHARS = 1000
# Words that do not tell two idea names apart ("Squeeze-and-Excitation block").
_FILLER_WORDS = frozenset(
    {"a", "an", "the", "and", "of", "with", "for", "block", "module", "layer"}
)
_NEAR_DUPLICATE_RATIO = 0.92
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class KnowledgeTreeError(ValueError):
    """A tree document that does not follow the schema; the message names the bad path."""


def normalise_name(name: str) -> str:
    """Folds case, punctuation, spacing: 'Squeeze-and-Excitation' -> 'squeeze and excitation'."""
    return " ".join(re.sub(r"[^0-9a-z]+", " ", name.lower()).split())


def _words(name: str) -> list[str]:
    words = [w for w in normalise_name(name).split() if w not in _FILLER_WORDS]
    return [w[:-1] if len(w) > 3 and w[-1] == "s" and w[-2] != "s" else w for w in words]


def dedup_key(name: str) -> str:
    """What two names of the same idea share: filler words dropped, plurals folded, no spaces."""
    return "".join(_words(name)) or normalise_name(name).replace(" ", "")


def same_idea(a: str, b: str) -> bool:
    """Whether two names name one idea (merge's near-duplicate detection).

    True for equal dedup keys, the same words in another order ('Swish (SiLU)' and
    'SiLU / Swish'), or near-equal keys of some length (a typo or a spelling variant).
    """
    ka, kb = dedup_key(a), dedup_key(b)
    words_a = sorted(_words(a))
    if ka == kb or (words_a and words_a == sorted(_words(b))):
        return True
    if min(len(ka), len(kb)) < 10:
        return False
    return difflib.SequenceMatcher(None, ka, kb).ratio() >= _NEAR_DUPLICATE_RATIO


@dataclass(frozen=True)
class Attribute:
    """One design idea."""

    name: str
    description: str
    apply: Any = None  # dict or list of dicts, or None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "description": self.description}
        if self.apply is not None:
            data["apply"] = copy.deepcopy(self.apply)
        if self.source:
            data["source"] = self.source
        return data


@dataclass(frozen=True)
class Category:
    name: str  # snake_case, e.g. "adaptive_recalibration"
    title: str
    description: str = ""
    attributes: tuple[Attribute, ...] = ()


class Idea(NamedTuple):
    """An attribute together with its category; unpacks as (category, attribute)."""

    category: Category
    attribute: Attribute


@dataclass
class MergeReport:
    """What a merge changed: new attributes, and existing ones given a richer description."""

    added: list[Idea] = field(default_factory=list)
    enriched: list[Idea] = field(default_factory=list)


def _require(condition: bool, path: str, message: str) -> None:
    if not condition:
        raise KnowledgeTreeError(f"{path}: {message}")


def _text(data: dict, key: str, path: str, limit: int, required: bool = True) -> str:
    value = data.get(key, "")
    _require(isinstance(value, str), f"{path}.{key}", "must be a string")
    value = value.strip()
    _require(bool(value) or not required, f"{path}.{key}", "must not be empty")
    _require(len(value) <= limit, f"{path}.{key}", f"is longer than {limit} characters")
    return value


def _attribute_from_dict(data: Any, path: str) -> Attribute:
    _require(isinstance(data, dict), path, "an attribute must be an object")
    unknown = sorted(set(data) - {"name", "description", "apply", "source"})
    _require(not unknown, path, f"unknown keys {unknown}")
    apply = data.get("apply")
    if apply is not None:
        ops = apply if isinstance(apply, list) else [apply]
        _require(
            bool(ops) and all(isinstance(op, dict) and isinstance(op.get("op"), str) for op in ops),
            f"{path}.apply",
            'must be an object with a string "op", or a non-empty list of them',
        )
    return Attribute(
        name=_text(data, "name", path, MAX_NAME_CHARS),
        description=_text(data, "description", path, MAX_DESCRIPTION_CHARS),
        apply=copy.deepcopy(apply),
        source=_text(data, "source", path, MAX_NAME_CHARS * 4, required=False),
    )


def _category_from_dict(data: Any, path: str) -> Category:
    _require(isinstance(data, dict), path, "a category must be an object")
    unknown = sorted(set(data) - {"name", "title", "description", "attributes"})
    _require(not unknown, path, f"unknown keys {unknown}")
    name = data.get("name")
    _require(
        isinstance(name, str) and bool(_NAME.match(name)), f"{path}.name", "must be snake_case"
    )
    raw = data.get("attributes", [])
    _require(isinstance(raw, list), f"{path}.attributes", "must be a list")
    return Category(
        name=name,
        title=_text(data, "title", path, MAX_NAME_CHARS, required=False) or name.replace("_", " "),
        description=_text(data, "description", path, MAX_DESCRIPTION_CHARS, required=False),
        attributes=tuple(
            _attribute_from_dict(item, f"{path}.attributes[{i}]") for i, item in enumerate(raw)
        ),
    )


class KnowledgeTree:
    """Categories in order, each with its attributes; attribute names are unique tree-wide."""

    def __init__(self, categories: Iterable[Category] = (), name: str = "") -> None:
        self.name = name
        self._categories: dict[str, Category] = {}
        seen: dict[str, str] = {}
        for category in categories:
            if category.name in self._categories:
                raise KnowledgeTreeError(f"category {category.name!r} appears twice")
            for attribute in category.attributes:
                key = dedup_key(attribute.name)
                if key in seen:
                    raise KnowledgeTreeError(
                        f"attribute {attribute.name!r} in {category.name!r} duplicates "
                        f"{seen[key]!r}"
                    )
                seen[key] = attribute.name
            self._categories[category.name] = category

    @classmethod
    def default(cls) -> "KnowledgeTree":
        """The tree shipped with nasforge (default_tree.json)."""
        text = resources.files("search_core.knowledge").joinpath("default_tree.json").read_text()
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, data: Any) -> "KnowledgeTree":
        """The tree a document describes; KnowledgeTreeError names the first thing wrong."""
        _require(isinstance(data, dict), "tree", "must be an object")
        unknown = sorted(set(data) - {"version", "name", "categories"})
        _require(not unknown, "tree", f"unknown keys {unknown}")
        _require(data.get("version", TREE_VERSION) == TREE_VERSION, "tree.version", "must be 1")
        raw = data.get("categories")
        _require(isinstance(raw, list), "tree.categories", "must be a list")
        name = data.get("name", "")
        _require(isinstance(name, str), "tree.name", "must be a string")
        categories = [_category_from_dict(item, f"categories[{i}]") for i, item in enumerate(raw)]
        return cls(categories, name=name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document; from_dict(tree.to_dict()) is an equal tree."""
        categories = []
        for category in self._categories.values():
            item: dict[str, Any] = {"name": category.name, "title": category.title}
            if category.description:
                item["description"] = category.description
            item["attributes"] = [attribute.to_dict() for attribute in category.attributes]
            categories.append(item)
        return {"version": TREE_VERSION, "name": self.name, "categories": categories}

    def copy(self) -> "KnowledgeTree":
        return KnowledgeTree(self._categories.values(), name=self.name)

    @property
    def categories(self) -> tuple[Category, ...]:
        return tuple(self._categories.values())

    def category(self, name: str) -> Category:
        if name not in self._categories:
            raise KeyError(f"no category {name!r}")
        return self._categories[name]

    def attributes(self) -> list[Idea]:
        """Every attribute with its category, in tree order."""
        return [Idea(c, a) for c in self._categories.values() for a in c.attributes]

    def __len__(self) -> int:
        return sum(len(c.attributes) for c in self._categories.values())

    def find(self, name: str) -> Idea | None:
        """The attribute that names the same idea as `name` (dedup rules), if any."""
        for idea in self.attributes():
            if same_idea(idea.attribute.name, name):
                return idea
        return None

    def merge(self, other: "KnowledgeTree") -> MergeReport:
        """Add `other`'s new ideas in place; a duplicate keeps the richer (longer) description.

        Categories unknown here are appended. A duplicate stays in the category where it
        already is; an `apply` entry it lacks is taken from the duplicate.
        """
        added: list[tuple[str, Attribute]] = []
        enriched: list[tuple[str, Attribute]] = []
        for incoming in other.categories:
            if incoming.name not in self._categories:
                self._categories[incoming.name] = replace(incoming, attributes=())
            for attribute in incoming.attributes:
                existing = self.find(attribute.name)
                if existing is None:
                    self._replace(incoming.name, None, attribute)
                    added.append((incoming.name, attribute))
                    continue
                richer = _richer(existing.attribute, attribute)
                if richer != existing.attribute:
                    self._replace(existing.category.name, existing.attribute, richer)
                    enriched.append((existing.category.name, richer))
        return MergeReport(
            added=[Idea(self._categories[c], a) for c, a in added],
            enriched=[Idea(self._categories[c], a) for c, a in enriched],
        )

    def _replace(self, category_name: str, old: Attribute | None, new: Attribute) -> None:
        category = self._categories[category_name]
        attributes = list(category.attributes)
        if old is None:
            attributes.append(new)
        else:
            attributes[attributes.index(old)] = new
        self._categories[category_name] = replace(category, attributes=tuple(attributes))


def _richer(existing: Attribute, incoming: Attribute) -> Attribute:
    merged = existing
    if len(incoming.description) > len(existing.description):
        merged = replace(merged, description=incoming.description)
    if merged.apply is None and incoming.apply is not None:
        merged = replace(merged, apply=copy.deepcopy(incoming.apply))
    return merged
