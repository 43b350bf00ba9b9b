"""Trusted scoring of a training job: the candidate's predictions against labels it never saw.

The training container holds the images of every split but the targets of the training split
only (trainer_svc.prepare). Per epoch it sends its predictions on the validation images; at
the end, its best epoch's predictions on the test images. Everything here runs in the
trainer's own process: the candidate can choose its outputs, never the figure they earn.
A prediction list that is malformed (wrong length, a class out of range, too long a
caption) is the candidate's runtime error, not a score.
"""

import math
from collections import Counter

import torch

from netapi.harness.training import MAX_GENERATED_TOKENS as MAX_CAPTION_TOKENS
from netapi.tasks import EOS, PAD, SOS, TaskSpec
from trainer_svc.prepare import PreparedData
from trainer_svc.scoring import accuracy, score_captions


def prediction_bytes(spec: TaskSpec, images: int) -> int:
    """An upper bound on the JSON of ``images`` predictions (class ids below 10**7, or
    captions of MAX_CAPTION_TOKENS such ids), for the container's output cap."""
    per_image = (MAX_CAPTION_TOKENS * 9 + 4) if spec.is_captioning else 9
    return images * per_image + 64


class BadPredictions(ValueError):
    """Predictions that do not answer the images they were asked for."""


def corpus_bleu4(hypotheses: list[list[int]], references: list[list[list[int]]]) -> float:
    """Corpus BLEU-4 (Papineni et al.) on token ids: selects the best epoch, no smoothing."""
    matches, totals = [0] * 4, [0] * 4
    hyp_length = ref_length = 0
    for hypothesis, refs in zip(hypotheses, references, strict=True):
        hyp_length += len(hypothesis)
        ref_length += min((abs(len(r) - len(hypothesis)), len(r)) for r in refs)[1]
        for n in range(1, 5):
            grams = Counter(tuple(hypothesis[i : i + n]) for i in range(len(hypothesis) - n + 1))
            best: Counter = Counter()
            for ref in refs:
                best |= Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
            matches[n - 1] += sum(min(count, best[gram]) for gram, count in grams.items())
            totals[n - 1] += max(0, len(hypothesis) - n + 1)
    if min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals, strict=True)) / 4
    brevity = 1.0 if hyp_length > ref_length else math.exp(1 - ref_length / max(hyp_length, 1))
    return brevity * math.exp(log_precision)


def references_of(captions: torch.Tensor) -> list[list[list[int]]]:
    """[N, Ncaps, T] padded ids -> per image, the reference token lists without specials."""
    result = []
    for image_captions in captions.tolist():
        refs = [[t for t in caption if t not in (SOS, EOS, PAD)] for caption in image_captions]
        result.append([ref for ref in refs if ref] or [[]])
    return result


def _token(value: object, limit: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < limit:
        raise BadPredictions(f"{value!r} is not a class or token id below {limit}")
    return value


class TrustedEvaluator:
    """Held-out labels of one prepared dataset, and the metrics computed against them."""

    def __init__(self, spec: TaskSpec, prepared: PreparedData, seed: int) -> None:
        self.spec, self.prepared, self.seed = spec, prepared, seed
        labels = prepared.held_out_labels()
        self._targets: dict[str, torch.Tensor] = labels["targets"]
        self._test_references: dict[str, list[str]] = labels["test_references"]

    def expected(self, split: str) -> int:
        """How many predictions the split asks for."""
        return len(self._targets[split])

    def predictions(self, split: str, raw: object) -> list:
        """The candidate's predictions for ``split``, checked; BadPredictions otherwise."""
        if not isinstance(raw, list) or len(raw) != self.expected(split):
            got = len(raw) if isinstance(raw, list) else type(raw).__name__
            raise BadPredictions(f"{got} predictions for {self.expected(split)} {split} images")
        limit = self.prepared.num_outputs
        if not self.spec.is_captioning:
            return [_token(value, limit) for value in raw]
        captions = []
        for caption in raw:
            if not isinstance(caption, list) or len(caption) > MAX_CAPTION_TOKENS:
                raise BadPredictions(f"a caption is not a list of at most {MAX_CAPTION_TOKENS} ids")
            captions.append([_token(token, limit) for token in caption])
        return captions

    def validation_metric(self, raw: object) -> float:
        """Accuracy or corpus BLEU-4 (token ids) on the validation split."""
        return self._metric("val", self.predictions("val", raw))

    def _metric(self, split: str, predictions: list) -> float:
        targets = self._targets[split]
        if self.spec.is_captioning:
            return corpus_bleu4(predictions, references_of(targets))
        return accuracy(torch.tensor(predictions), targets)

    def test_scores(self, raw: object) -> dict[str, float]:
        """The scores stored for the candidate: accuracy, or BLEU-4 both ways with baselines."""
        predictions = self.predictions("test", raw)
        if not self.spec.is_captioning:
            return {"accuracy": self._metric("test", predictions)}
        itos = self.prepared.meta["itos"]
        captions = {
            image_id: " ".join(itos[t] for t in tokens)
            for image_id, tokens in zip(
                self.prepared.meta["test_image_ids"], predictions, strict=True
            )
        }
        scores = score_captions(
            captions,
            self._test_references,
            self.prepared.meta["train_captions"],
            seed=self.seed,
        )
        return {
            "bleu4_sentence": scores.bleu4_nltk,
            "bleu4_corpus": scores.bleu4_coco,
            "bleu4_constant_baseline": scores.baseline_bleu4_coco,
            "bleu4_sentence_constant_baseline": scores.baseline_bleu4_nltk,
        }
