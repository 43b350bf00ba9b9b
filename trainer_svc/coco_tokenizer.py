"""The COCO evaluator's tokeniser, CoreNLP's PTBTokenizer (Java), run from a private temp folder.

pycocoevalcap's own `PTBTokenizer.tokenize` writes its input file into its package folder and
runs Java there, which fails where that folder is read-only (the trainer's container: read-only
root file system, non-root user). This runs the same jar with the same flags and removes the
same punctuation tokens (pycocoevalcap's constants, imported, not copied), with the input file
in a temporary folder of its own; tests/unit/trainer_svc/test_coco_tokenizer.py holds the two to
identical output. It also fails loudly where pycocoevalcap would go on quietly: no Java, a
tokenizer that exits with an error, or output lines that do not pair with the captions.
"""

import shutil
import subprocess
import tempfile
from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path

TIMEOUT_SECONDS = 600  # a test split of thousands of captions tokenises in a few seconds
_MAIN_CLASS = "edu.stanford.nlp.process.PTBTokenizer"
_FLAGS = ("-preserveLines", "-lowerCase")  # pycocoevalcap's


class CocoTokenizerError(RuntimeError):
    """The PTB tokenizer could not run (no Java) or gave output that cannot be trusted."""


def ptb_tokenize(captions: Mapping[Hashable, Sequence[str]]) -> dict[Hashable, list[str]]:
    """{key: [caption, ...]} -> {key: [lower-cased tokens joined by spaces, ...]}, as
    pycocoevalcap's `PTBTokenizer().tokenize` (which takes {key: [{"caption": ...}]})."""
    java = shutil.which("java")
    if java is None:
        raise CocoTokenizerError(
            "the COCO evaluator's PTB tokenizer needs Java, and there is no `java` on PATH: "
            "install a Java runtime (Debian: apt-get install default-jre-headless)"
        )
    # Imported here: pycocoevalcap (100 MB with its jars) is needed for captions only.
    from pycocoevalcap.tokenizer import ptbtokenizer as coco

    keys = [key for key, texts in captions.items() for _ in texts]
    # Output lines pair with captions by position, and Java breaks lines at "\r", "\v", "\f",
    # U+0085 and U+2028 as well as "\n" (pycocoevalcap replaces only "\n"): one of those in a
    # caption would shift every later caption onto the wrong image. So every whitespace run
    # becomes one space, which changes no token.
    lines = [" ".join(text.split()) for texts in captions.values() for text in texts]
    jar = Path(coco.__file__).with_name(coco.STANFORD_CORENLP_3_4_1_JAR)
    with tempfile.TemporaryDirectory(prefix="nasforge-ptb-") as work:
        source = Path(work) / "captions.txt"
        source.write_bytes("\n".join(lines).encode())  # UTF-8, the tokenizer's default
        try:
            done = subprocess.run(
                [java, "-cp", str(jar), _MAIN_CLASS, *_FLAGS, source.name],
                cwd=work,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CocoTokenizerError(f"PTB tokenizer ran past {TIMEOUT_SECONDS} s") from exc
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace").strip()[-2000:]
        raise CocoTokenizerError(f"PTB tokenizer exited with {done.returncode}: {stderr}")
    # N input lines (the last without "\n") come back as N lines, empty ones included.
    output = done.stdout.decode().split("\n")
    if len(output) != len(lines):
        raise CocoTokenizerError(
            f"PTB tokenizer gave {len(output)} lines for {len(lines)} captions"
        )
    tokenised: dict[Hashable, list[str]] = {}
    for key, line in zip(keys, output, strict=True):
        words = [w for w in line.rstrip().split(" ") if w not in coco.PUNCTUATIONS]
        tokenised.setdefault(key, []).append(" ".join(words))
    return tokenised
