"""The built-in zoo: our Net API models (package data in models/), seeding, snippet sampling."""

import random
from collections.abc import Iterable, Sequence
from importlib import resources

from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION
from search_core.domain import ZooModel
from search_core.identity import family_of, normalised_md5, split_captioner

# The captioning baselines: zoo name -> (encoder family, decoder). Every other file classifies.
CAPTIONERS = {
    "ResNetLSTM": ("ResNet", "LSTM"),
    "ResNetGRU": ("ResNet", "GRU"),
    "ResNetTransformer": ("ResNet", "Transformer"),
}
BUILTIN_SOURCE = "nasforge"


def _model_sources() -> list[tuple[str, str]]:
    folder = resources.files("search_core") / "zoo" / "models"
    files = [entry for entry in folder.iterdir() if entry.name.endswith(".py")]
    return [(entry.name[:-3], entry.read_text(encoding="utf-8")) for entry in files]


def _builtin(name: str, code: str) -> ZooModel:
    encoder, decoder = CAPTIONERS.get(name, ("", ""))
    return ZooModel(
        name=name,
        task=IMG_CAPTIONING if name in CAPTIONERS else IMG_CLASSIFICATION,
        code=code,
        family=name,
        encoder=encoder,
        decoder=decoder,
        source=BUILTIN_SOURCE,
        code_md5=normalised_md5(code),
    )


def builtin_models(task: str | None = None) -> list[ZooModel]:
    """The models shipped with nasforge, by name; only those of ``task`` when given."""
    models = sorted((_builtin(name, code) for name, code in _model_sources()), key=_name)
    return [model for model in models if task is None or model.task == task]


def seed_zoo(store, models: Iterable[ZooModel] | None = None) -> list[str]:
    """Put the built-in models into ``store`` (anything with put/get_zoo_model); return names put.

    A name the store already holds from another source (e.g. a LEMUR import of "ResNet")
    is left alone: the user chose that model. Built-ins are refreshed, so a new release's
    code replaces the old.
    """
    put = []
    for model in builtin_models() if models is None else models:
        held = store.get_zoo_model(model.name)
        if held is not None and held.source != model.source:
            continue
        store.put_zoo_model(model)
        put.append(model.name)
    return put


def encoder_of(model: ZooModel) -> str:
    """The encoder family of a captioner, from its fields or else from its name."""
    return model.encoder or split_captioner(family_of(model.name))[0]


def sample_snippets(
    models: Sequence[ZooModel], baseline: ZooModel, k: int, rng: random.Random
) -> list[ZooModel]:
    """k classification models for a captioning prompt, never of the baseline's encoder family.

    Deterministic for a given ``rng`` state whatever the order of ``models``. Raises
    ValueError when fewer than k models qualify.
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    excluded = encoder_of(baseline).lower()
    pool = {
        model.name: model
        for model in models
        if model.task == IMG_CLASSIFICATION
        and model.name != baseline.name
        and (model.family or family_of(model.name)).lower() != excluded
    }
    if k > len(pool):
        raise ValueError(
            f"only {len(pool)} classification models qualify as snippets for "
            f"{baseline.name} (encoder {encoder_of(baseline) or 'unknown'}); asked for {k}"
        )
    return rng.sample(sorted(pool.values(), key=_name), k)


def _name(model: ZooModel) -> str:
    return model.name
