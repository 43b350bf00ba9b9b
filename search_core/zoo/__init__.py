"""The model zoo: built-in Net API models, snippet sampling for prompts, LEMUR import (lemur.py)."""

from search_core.zoo.registry import (
    BUILTIN_SOURCE,
    CAPTIONERS,
    builtin_models,
    encoder_of,
    family_of,
    sample_snippets,
    seed_zoo,
    split_captioner,
)

__all__ = [
    "BUILTIN_SOURCE",
    "CAPTIONERS",
    "builtin_models",
    "encoder_of",
    "family_of",
    "sample_snippets",
    "seed_zoo",
    "split_captioner",
]
