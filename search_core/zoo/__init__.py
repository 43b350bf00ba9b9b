"""The model zoo: built-in Net API models, snippet sampling for prompts, LEMUR import (lemur.py)."""

from search_core.zoo.registry import (
    BUILTIN_SOURCE,
    CAPTIONERS,
    builtin_models,
    encoder_of,
    sample_snippets,
    seed_zoo,
)

__all__ = [
    "BUILTIN_SOURCE",
    "CAPTIONERS",
    "builtin_models",
    "encoder_of",
    "sample_snippets",
    "seed_zoo",
]
