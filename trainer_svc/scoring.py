"""Scores of trained candidates: accuracy, and BLEU-4 two ways beside an image-blind baseline."""

import random
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from trainer_svc.coco_tokenizer import ptb_tokenize
from trainer_svc.data.vocab import tokenize, tokenizer_name


def accuracy(outputs: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy of logits [B, C] (or predicted classes [B]) against labels [B]."""
    predicted = outputs.argmax(dim=1) if outputs.dim() == 2 else outputs
    if predicted.shape != labels.shape:
        raise ValueError(f"predictions {tuple(predicted.shape)} vs labels {tuple(labels.shape)}")
    if labels.numel() == 0:
        raise ValueError("accuracy of an empty batch is undefined")
    return (predicted == labels).float().mean().item()


def eval_subset(ids: Iterable[Hashable], size: int | None, seed: int) -> list:
    """A fixed, seeded sample of `size` ids (all of them if `size` is None or larger), sorted."""
    ordered = sorted(set(ids))
    if size is None or size >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, size))


def most_frequent_caption(captions: Iterable[str]) -> str:
    """The most frequent training caption, tokenised and re-joined; ties go to the first."""
    counts = Counter(" ".join(tokenize(c)) for c in captions)
    if not counts:
        raise ValueError("no training captions to take a baseline from")
    return max(counts, key=counts.__getitem__)  # Counter keeps first-seen order


def bleu4_nltk(
    predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]]
) -> float:
    """LEMUR's BLEU-4: nltk `sentence_bleu` (method1) per image with all references, averaged."""
    if not predictions:
        raise ValueError("no predictions to score")
    smooth = SmoothingFunction().method1
    scores = [
        sentence_bleu(
            [tokenize(r) for r in references[k]],
            tokenize(predictions[k]),
            smoothing_function=smooth,
        )
        for k in predictions
    ]
    return sum(scores) / len(scores)


def bleu4_coco(
    predictions: Mapping[Hashable, str], references: Mapping[Hashable, Sequence[str]]
) -> float:
    """Corpus BLEU-4 of the official COCO evaluator (`Bleu(4)` after its Java `PTBTokenizer`)."""
    tokens = ptb_tokenize(
        {("res", k): [v] for k, v in predictions.items()}
        | {("gts", k): list(references[k]) for k in predictions}
    )
    return _coco_bleu4(tokens, list(predictions))


@dataclass(frozen=True)
class CaptionScores:
    """BLEU-4 of a model and of the most frequent training caption, both ways, on one subset."""

    bleu4_nltk: float
    bleu4_coco: float
    baseline_bleu4_nltk: float
    baseline_bleu4_coco: float
    baseline_caption: str
    n_images: int
    seed: int
    tokenizer: str  # the nltk tokenizer behind bleu4_nltk (see trainer_svc.data.vocab)

    @property
    def beats_baseline(self) -> bool:
        """Whether the model scores above the image-blind caption under both methods."""
        return (
            self.bleu4_nltk > self.baseline_bleu4_nltk
            and self.bleu4_coco > self.baseline_bleu4_coco
        )


def score_captions(
    predictions: Mapping[Hashable, str],
    references: Mapping[Hashable, Sequence[str]],
    train_captions: Iterable[str],
    subset_size: int | None = None,
    seed: int = 0,
) -> CaptionScores:
    """Score generated captions on a seeded subset of images, next to the constant baseline.

    The baseline emits the most frequent training caption for every image: a model that
    ignores its image scores about the same, which sentence-level BLEU alone would hide.
    """
    missing = set(references) - set(predictions)
    if missing:
        raise ValueError(f"{len(missing)} images have references but no prediction")
    ids = eval_subset(references, subset_size, seed)
    if not ids:
        raise ValueError("no images to score")
    baseline = most_frequent_caption(train_captions)
    preds = {k: predictions[k] for k in ids}
    refs = {k: list(references[k]) for k in ids}
    constant = dict.fromkeys(ids, baseline)
    # One Java run tokenises references, predictions and the baseline together.
    tokens = ptb_tokenize(
        {("gts", k): refs[k] for k in ids}
        | {("res", k): [preds[k]] for k in ids}
        | {("base", 0): [baseline]}
    )
    base_tokens = tokens[("base", 0)]
    tokens_for_baseline = {("gts", k): tokens[("gts", k)] for k in ids}
    tokens_for_baseline |= {("res", k): base_tokens for k in ids}
    return CaptionScores(
        bleu4_nltk=bleu4_nltk(preds, refs),
        bleu4_coco=_coco_bleu4(tokens, ids),
        baseline_bleu4_nltk=bleu4_nltk(constant, refs),
        baseline_bleu4_coco=_coco_bleu4(tokens_for_baseline, ids),
        baseline_caption=baseline,
        n_images=len(ids),
        seed=seed,
        tokenizer=tokenizer_name(),
    )


def _coco_bleu4(tokens: Mapping[Hashable, list[str]], ids: Sequence[Hashable]) -> float:
    """`Bleu(4)` on already tokenised `("gts", id)` and `("res", id)` entries."""
    from pycocoevalcap.bleu.bleu import Bleu

    res = {i: tokens[("res", k)] for i, k in enumerate(ids)}
    gts = {i: tokens[("gts", k)] for i, k in enumerate(ids)}
    score, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return float(score[3])
