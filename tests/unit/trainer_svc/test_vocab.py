"""trainer_svc.data.vocab: tokenisation, frequency thresholds, the cache file."""

import json

import nltk
import pytest

from netapi.tasks import EOS, PAD, SOS, UNK
from trainer_svc.data.vocab import (
    PUNKT_RESOURCE,
    SPECIALS,
    WORD_TOKENIZE,
    WORD_TOKENIZE_NO_PUNKT,
    Vocabulary,
    build_vocabulary,
    load_or_build_vocabulary,
    tokenize,
    tokenizer_name,
)

CAPTIONS = [
    "A red sneaker at the top left.",
    "A red bag, and a blue Dress!",
    "a bag",
    "Don't panic: a t-shirt.",
]


def _write_annotations(path, captions):
    anns = [{"image_id": 1, "id": i + 1, "caption": c} for i, c in enumerate(captions)]
    images = [{"id": 1, "file_name": "x.png", "height": 8, "width": 8}]
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return path


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("A red bag, and a blue Dress!") == [
        "a",
        "red",
        "bag",
        "and",
        "a",
        "blue",
        "dress",
    ]
    assert tokenize("Don't panic: a t-shirt.") == ["do", "n't", "panic", "a", "t-shirt"]


def test_the_tokenizer_in_use_is_the_one_reported():
    try:
        nltk.data.find(PUNKT_RESOURCE)
        expected = WORD_TOKENIZE
    except LookupError:
        expected = WORD_TOKENIZE_NO_PUNKT
    assert tokenizer_name() == expected


def test_mid_caption_periods_are_split_off_with_or_without_punkt():
    assert tokenize("A dog. A cat sits on the mat.") == [
        "a",
        "dog",
        "a",
        "cat",
        "sits",
        "on",
        "the",
        "mat",
    ]


@pytest.fixture
def minimal_punkt(tmp_path, monkeypatch):
    """A real Punkt model with nothing learned, where nltk looks first; the choice re-made."""
    model = tmp_path / "nltk_data" / PUNKT_RESOURCE
    model.mkdir(parents=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (model / name).touch()
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nltk_data"), *nltk.data.path])
    tokenizer_name.cache_clear()
    yield
    tokenizer_name.cache_clear()


def test_word_tokenize_runs_when_punkt_data_is_present(minimal_punkt):
    assert tokenizer_name() == WORD_TOKENIZE
    assert tokenize("A dog. A cat, on the mat!") == ["a", "dog", "a", "cat", "on", "the", "mat"]
    assert build_vocabulary(["a dog"], threshold=1).tokenizer == WORD_TOKENIZE


def test_threshold_keeps_frequent_words_only():
    vocab = build_vocabulary(CAPTIONS, threshold=2)
    # a x5, bag x2, red x2; everything else once.
    assert vocab.itos == (*SPECIALS, "a", "bag", "red")
    assert vocab.itos[:4] == ("<PAD>", "<SOS>", "<EOS>", "<UNK>")
    assert (vocab.stoi["<PAD>"], vocab.stoi["<SOS>"], vocab.stoi["<EOS>"]) == (PAD, SOS, EOS)
    everything = build_vocabulary(CAPTIONS, threshold=1)
    assert len(everything) == 4 + 15 and "t-shirt" in everything.stoi
    assert len(build_vocabulary(CAPTIONS, threshold=10)) == 4
    with pytest.raises(ValueError):
        build_vocabulary(CAPTIONS, threshold=0)


def test_encode_decode_round_trip_with_unknown_words():
    vocab = build_vocabulary(CAPTIONS, threshold=2)
    ids = vocab.encode("A red hat and a bag.")
    a, red, bag = (vocab.stoi[w] for w in ("a", "red", "bag"))
    assert ids == [SOS, a, red, UNK, UNK, a, bag, EOS]
    assert vocab.decode(ids) == "a red <UNK> <UNK> a bag"
    assert vocab.decode([SOS, a, bag, EOS, red, PAD]) == "a bag"  # stops at <EOS>
    assert vocab.encode("a red bag a red bag", max_len=5) == [SOS, a, red, bag, EOS]


def test_a_vocabulary_must_start_with_the_specials():
    with pytest.raises(ValueError, match="must start with"):
        Vocabulary(("a", "<PAD>", "<SOS>", "<EOS>", "<UNK>"), 1, WORD_TOKENIZE)


def test_cache_is_written_reused_and_rebuilt(tmp_path):
    annotations = _write_annotations(tmp_path / "captions_train.json", CAPTIONS)
    cache = tmp_path / "cache" / "vocab.json"
    vocab = load_or_build_vocabulary(annotations, cache, threshold=2)
    content = json.loads(cache.read_text())
    assert content["itos"] == list(vocab.itos) and content["threshold"] == 2
    assert content["tokenizer"] == tokenizer_name()
    assert len(content["source_sha256"]) == 64

    # Reused: a cache edited by hand is believed while source, threshold and tokenizer fit.
    content["itos"].append("marker")
    cache.write_text(json.dumps(content))
    assert load_or_build_vocabulary(annotations, cache, threshold=2).itos[-1] == "marker"

    # Rebuilt: another threshold, then another source file.
    assert "marker" not in load_or_build_vocabulary(annotations, cache, threshold=1).itos
    _write_annotations(annotations, [*CAPTIONS, "a blue blue coat"])
    rebuilt = load_or_build_vocabulary(annotations, cache, threshold=2)
    assert "blue" in rebuilt.itos and json.loads(cache.read_text())["threshold"] == 2


def test_a_cache_from_another_tokenizer_is_not_used(tmp_path):
    annotations = _write_annotations(tmp_path / "captions_train.json", CAPTIONS)
    cache = tmp_path / "vocab.json"
    load_or_build_vocabulary(annotations, cache, threshold=2)
    content = json.loads(cache.read_text())
    other = WORD_TOKENIZE if tokenizer_name() != WORD_TOKENIZE else WORD_TOKENIZE_NO_PUNKT
    content.update(tokenizer=other, itos=[*content["itos"], "marker"])
    cache.write_text(json.dumps(content))
    vocab = load_or_build_vocabulary(annotations, cache, threshold=2)
    assert "marker" not in vocab.itos and vocab.tokenizer == tokenizer_name()
