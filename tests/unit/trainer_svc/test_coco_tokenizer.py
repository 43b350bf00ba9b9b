"""trainer_svc.coco_tokenizer: the same tokens as pycocoevalcap's own PTBTokenizer wrapper, run
from a temporary folder (never pycocoevalcap's package folder), and clear errors."""

import os
import stat
from pathlib import Path

import pytest
from pycocoevalcap.tokenizer import ptbtokenizer
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

from trainer_svc import coco_tokenizer
from trainer_svc.coco_tokenizer import CocoTokenizerError, ptb_tokenize

# What the Java lexer treats specially: quotes of every kind, contractions and possessives,
# brackets (which become -lrb-/-rrb-, lower-cased, so the COCO filter keeps them), hyphens and
# dashes, numbers, abbreviations, ellipses, non-ASCII letters, emoji, empty captions.
NASTY = [
    'A man\'s "big" dog (grey) -- runs... fast!',
    "Don't, won't, can't; they'll y'all I'd we've o'clock",
    "`single' \u2018curly\u2019 \u201cdouble\u201d \u00abguillemets\u00bb 'quoted'",
    "A well-known, state-of-the-art T-shirt - a dash \u2014 an em dash \u2013 an en dash",
    "3.5 inches, 1,000 bags, $20.99, 50% off, 10:30 a.m., 1/2 price, #1 item, 2nd",
    "Mr. Smith vs. Dr. Jones etc. U.S.A. e.g. i.e.",
    "Café naïve résumé Ærøskøbing straße ПРИВЕТ 日本の靴 😀 👗",
    "Wait.... what?! ...really??? (yes) [no] {maybe} <tag> a/b a\\b",
    "",
    "   ",
    "tab\tseparated\twords and  double  spaces",
    "ALL CAPS SHOUTING, MiXeD cAsE",
    "email@example.com http://example.com/a?b=c&d=e :-) ;)",
    "a caption ending with a quote '",
    "it's the dogs' bowl and the dog's bone",
    "& * @ ^ ~ | + = _",
]


def _reference(captions: dict) -> dict:
    """pycocoevalcap's own wrapper (which writes into its package folder: writable here)."""
    return PTBTokenizer().tokenize({k: [{"caption": c} for c in v] for k, v in captions.items()})


def test_same_tokens_as_pycocoevalcap_on_nasty_captions():
    captions = {i: [c] for i, c in enumerate(NASTY)} | {"many": NASTY[:5], "one": ["A dog."]}
    tokens = ptb_tokenize(captions)
    assert tokens == _reference(captions)
    assert tokens["one"] == ["a dog"]
    assert tokens[0] == ["a man 's big dog -lrb- grey -rrb- runs fast"]


def test_line_breaks_inside_captions_keep_every_caption_on_its_image():
    breaks = ["a\rb", "c\u2028d", "e\vf", "g\fh", "i\x85j", "k\nl", "m\r\nn"]
    tokens = ptb_tokenize({i: [c] for i, c in enumerate(breaks)} | {"last": ["the end"]})
    assert [tokens[i][0] for i in range(len(breaks))] == [
        "a b", "c d", "e f", "g h", "i j", "k l", "m n",
    ]  # fmt: skip
    assert tokens["last"] == ["the end"]


def test_nothing_is_written_into_the_package_folder(monkeypatch, tmp_path):
    """A read-only copy of the tokenizer folder (the trainer container's case) still works."""
    package = Path(ptbtokenizer.__file__).parent
    copy = tmp_path / "tokenizer"
    copy.mkdir()
    (copy / "ptbtokenizer.py").write_bytes(Path(ptbtokenizer.__file__).read_bytes())
    jar = copy / ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR
    jar.symlink_to(package / ptbtokenizer.STANFORD_CORENLP_3_4_1_JAR)
    copy.chmod(stat.S_IRUSR | stat.S_IXUSR)
    monkeypatch.setattr(ptbtokenizer, "__file__", str(copy / "ptbtokenizer.py"))
    try:
        if os.geteuid() != 0:  # root writes anyway; the listing check below still holds
            with pytest.raises(PermissionError):
                PTBTokenizer().tokenize({1: [{"caption": "a dog"}]})
        assert ptb_tokenize({1: ["A dog."]}) == {1: ["a dog"]}
        assert sorted(p.name for p in copy.iterdir()) == sorted(["ptbtokenizer.py", jar.name])
    finally:
        copy.chmod(stat.S_IRWXU)


def test_no_java_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(coco_tokenizer.shutil, "which", lambda name: None)
    with pytest.raises(CocoTokenizerError, match=r"needs Java.*default-jre-headless"):
        ptb_tokenize({1: ["a dog"]})


def test_a_failing_java_is_a_clear_error(monkeypatch, tmp_path):
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'Error: could not find or load main class' >&2\nexit 1\n")
    java.chmod(0o755)
    monkeypatch.setattr(coco_tokenizer.shutil, "which", lambda name: str(java))
    with pytest.raises(CocoTokenizerError, match="exited with 1: Error: could not find"):
        ptb_tokenize({1: ["a dog"]})


def test_output_that_does_not_pair_with_the_captions_is_refused(monkeypatch, tmp_path):
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\nprintf 'a dog\\n'\n")  # two lines (one empty) for three
    java.chmod(0o755)
    monkeypatch.setattr(coco_tokenizer.shutil, "which", lambda name: str(java))
    with pytest.raises(CocoTokenizerError, match="2 lines for 3 captions"):
        ptb_tokenize({1: ["a dog", "a cat"], 2: ["a bag"]})
