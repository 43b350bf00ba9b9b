"""Caption tokenisation with nltk and the captioning vocabulary, cached to a JSON file."""

import functools
import hashlib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nltk
from nltk.tokenize import word_tokenize

from netapi.tasks import EOS, PAD, SOS, SPECIAL_TOKENS, UNK

SPECIALS = tuple(sorted(SPECIAL_TOKENS, key=SPECIAL_TOKENS.__getitem__))  # <PAD> <SOS> <EOS> <UNK>
CACHE_FORMAT = 1

# Which tokenizer ran; recorded in every vocabulary so that a cache never mixes the two.
WORD_TOKENIZE = "nltk.word_tokenize"
# Punkt's data (punkt_tab) comes only from nltk's downloader, which cannot reach the
# internet here, and no Debian or PyPI package ships it. Without it: word_tokenize's own
# word tokenizer (NLTKWordTokenizer, an improved Treebank tokenizer, no data needed) on
# sentences split at . ! ? followed by a space, so that "a dog. a cat" still yields "dog".
WORD_TOKENIZE_NO_PUNKT = "nltk.word_tokenize(preserve_line=True) on regex-split sentences"
PUNKT_RESOURCE = "tokenizers/punkt_tab/english/"

_PUNCTUATION = re.compile(r"[^\w]+")  # tokens made only of punctuation: , . `` '' -- ...
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@functools.cache
def tokenizer_name() -> str:
    """`nltk.word_tokenize` where Punkt's data is installed, else the same without it."""
    try:
        nltk.data.find(PUNKT_RESOURCE)
    except LookupError:
        return WORD_TOKENIZE_NO_PUNKT
    return WORD_TOKENIZE


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of a caption, punctuation dropped (as COCO's evaluator does)."""
    text = text.lower().replace("\n", " ")
    if tokenizer_name() == WORD_TOKENIZE:
        tokens = word_tokenize(text)
    else:
        tokens = [
            t for part in _SENTENCE_END.split(text) for t in word_tokenize(part, preserve_line=True)
        ]
    return [t for t in tokens if not _PUNCTUATION.fullmatch(t)]


@dataclass(frozen=True)
class Vocabulary:
    """Index <-> word, the four Net API specials first; words seen `threshold` times or more."""

    itos: tuple[str, ...]
    threshold: int
    tokenizer: str

    def __post_init__(self) -> None:
        if self.itos[: len(SPECIALS)] != SPECIALS:
            raise ValueError(f"a vocabulary must start with {SPECIALS}, got {self.itos[:4]}")
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("a vocabulary's words must be unique")

    @functools.cached_property
    def stoi(self) -> dict[str, int]:
        """Word -> index."""
        return {word: i for i, word in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, caption: str, max_len: int | None = None) -> list[int]:
        """`<SOS> words <EOS>` as ids, unknown words as `<UNK>`; at most `max_len` ids."""
        ids = [self.stoi.get(t, UNK) for t in tokenize(caption)]
        if max_len is not None:
            if max_len < 3:
                raise ValueError("max_len must leave room for <SOS>, a word and <EOS>")
            ids = ids[: max_len - 2]
        return [SOS, *ids, EOS]

    def decode(self, ids: Iterable[int]) -> str:
        """The words of generated ids up to the first `<EOS>`; `<PAD>` and `<SOS>` skipped."""
        words = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, SOS):
                continue
            words.append(self.itos[i] if 0 <= i < len(self.itos) else SPECIALS[UNK])
        return " ".join(words)

    def to_json(self) -> dict:
        """The cache file's content, without the source it was built from."""
        return {
            "format": CACHE_FORMAT,
            "threshold": self.threshold,
            "tokenizer": self.tokenizer,
            "itos": list(self.itos),
        }


def build_vocabulary(captions: Iterable[str], threshold: int) -> Vocabulary:
    """Words that occur at least `threshold` times, most frequent first (ties by spelling)."""
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    counts = Counter(t for caption in captions for t in tokenize(caption))
    words = sorted(
        (w for w, n in counts.items() if n >= threshold and w not in SPECIALS),
        key=lambda w: (-counts[w], w),
    )
    return Vocabulary((*SPECIALS, *words), threshold, tokenizer_name())


def annotation_captions(annotation_file: str | Path) -> list[str]:
    """Every caption of a COCO captions annotation file, in file order."""
    with open(annotation_file, encoding="utf-8") as f:
        return [ann["caption"] for ann in json.load(f)["annotations"]]


def load_or_build_vocabulary(
    annotation_file: str | Path, cache_file: str | Path, threshold: int
) -> Vocabulary:
    """The vocabulary of a COCO captions file, read from `cache_file` when it still fits.

    The cache is reused only if it was built from the same file content (sha256), with the
    same threshold and the same tokenizer; otherwise it is rebuilt and rewritten atomically.
    """
    source = _sha256(annotation_file)
    cache_file = Path(cache_file)
    if cache_file.is_file():
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        wanted = (CACHE_FORMAT, source, threshold, tokenizer_name())
        have = tuple(cached.get(k) for k in ("format", "source_sha256", "threshold", "tokenizer"))
        if have == wanted:
            return Vocabulary(tuple(cached["itos"]), threshold, cached["tokenizer"])
    vocab = build_vocabulary(annotation_captions(annotation_file), threshold)
    content = {**vocab.to_json(), "source": str(annotation_file), "source_sha256": source}
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_name(f".{cache_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content), encoding="utf-8")
    os.replace(tmp, cache_file)
    return vocab


def _sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
