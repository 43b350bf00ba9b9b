"""Builds a real-image captioning dataset in COCO format from grids of Fashion-MNIST items."""

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from trainer_svc.data.idx import FASHION_MNIST_DIR, load_idx_split

NOUNS = (
    "t-shirt",
    "pair of trousers",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)
PLURALS = (
    "t-shirts",
    "pairs of trousers",
    "pullovers",
    "dresses",
    "coats",
    "sandals",
    "shirts",
    "sneakers",
    "bags",
    "ankle boots",
)
# Each item is tinted with one colour, so that images are truly RGB and captions say so.
COLOURS = {
    "red": (230, 50, 40),
    "green": (50, 190, 70),
    "blue": (60, 110, 240),
    "yellow": (240, 210, 40),
    "white": (240, 240, 240),
    "purple": (160, 70, 200),
}
_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_ROWS = {2: ("top", "bottom"), 3: ("top", "middle", "bottom")}
_COLS = {2: ("left", "right"), 3: ("left", "centre", "right")}
SIDE = 28  # a Fashion-MNIST item is 28 x 28
SPLITS = ("train", "val", "test")
N_PHRASINGS = 5
LICENSE = {
    "id": 1,
    "name": "MIT License (Fashion-MNIST, Zalando SE)",
    "url": "https://opensource.org/licenses/MIT",
}


@dataclass(frozen=True)
class CaptionDatasetPaths:
    """Where a built dataset lies: the image folder and one annotation file per split."""

    root: Path
    image_dir: Path
    annotations: dict[str, Path]


def position_names(grid: int) -> list[str]:
    """Cell names in row-major order: `top left`, ..., `centre` for a 3x3 grid's middle."""
    names = []
    for row in _ROWS[grid]:
        for col in _COLS[grid]:
            names.append("centre" if (row, col) == ("middle", "centre") else f"{row} {col}")
    return names


def _a(noun: str) -> str:
    """The noun with its indefinite article."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun


def _join(parts: list[str]) -> str:
    """`a, b and c`."""
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def captions_for(labels: list[int], colours: list[str], grid: int) -> list[str]:
    """Five phrasings of one grid's content, from its items' labels, colours and positions."""
    where = position_names(grid)
    nouns = [NOUNS[label] for label in labels]
    coloured = [_a(f"{c} {n}") for c, n in zip(colours, nouns, strict=True)]
    at = [
        f"{c} at the {p}" if p != "centre" else f"{c} in the centre"
        for c, p in zip(coloured, where, strict=True)
    ]
    rows = []
    for r, row in enumerate(_ROWS[grid]):
        cells = [_a(n) for n in nouns[r * grid : (r + 1) * grid]]
        rows.append(f"the {row} row shows {_join(cells)}")
    counts = Counter(labels)
    counted = [
        _a(NOUNS[k]) if n == 1 else f"{_NUMBERS[n]} {PLURALS[k]}" for k, n in sorted(counts.items())
    ]
    total = _NUMBERS[len(labels)] if len(labels) < len(_NUMBERS) else str(len(labels))
    return [
        _join(at) + ".",
        ", ".join(rows) + ".",
        f"{total} fashion items: {_join(counted)}.",
        f"a grid of clothes with {coloured[0]} at the {where[0]} "
        f"and {coloured[-1]} at the {where[-1]}.",
        f"{_join(nouns)} on a black background.",
    ]


def render_grid(items: np.ndarray, colours: list[str], grid: int) -> Image.Image:
    """Items [grid*grid, 28, 28] uint8 tinted by colour, row-major, as one RGB image."""
    canvas = np.zeros((grid * SIDE, grid * SIDE, 3), dtype=np.uint8)
    for k, (item, colour) in enumerate(zip(items, colours, strict=True)):
        r, c = divmod(k, grid)
        tint = np.asarray(COLOURS[colour], dtype=np.float32) / 255.0
        cell = item.astype(np.float32)[:, :, None] * tint  # [28, 28, 3]
        canvas[r * SIDE : (r + 1) * SIDE, c * SIDE : (c + 1) * SIDE] = cell.round().astype(np.uint8)
    return Image.fromarray(canvas)


def build_fashion_caption_dataset(
    out_dir: str | Path,
    n_train: int,
    n_val: int,
    n_test: int,
    seed: int,
    grid: int = 2,
    source_dir: str | Path = FASHION_MNIST_DIR,
) -> CaptionDatasetPaths:
    """Write `images/*.png` and `annotations/captions_{train,val,test}.json` (COCO format).

    Train and val grids draw items from Fashion-MNIST's training split, test grids from
    its test split, so no test item was seen in training. The same seed gives the same
    files byte for byte. Each image has five reference captions.
    """
    if grid not in _ROWS:
        raise ValueError(f"grid must be one of {sorted(_ROWS)}, got {grid}")
    root = Path(out_dir)
    image_dir, ann_dir = root / "images", root / "annotations"
    image_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = {True: load_idx_split(source_dir, True), False: load_idx_split(source_dir, False)}
    next_image_id, next_ann_id = 1, 1
    annotations = {}
    for split, count in zip(SPLITS, (n_train, n_val, n_test), strict=True):
        items, labels = sources[split != "test"]
        images, anns = [], []
        for _ in range(count):
            picks = rng.integers(0, len(labels), size=grid * grid)
            colours = [str(c) for c in rng.choice(list(COLOURS), size=grid * grid)]
            item_labels = [int(labels[i]) for i in picks]
            file_name = f"fashion_{split}_{next_image_id:06d}.png"
            render_grid(items[picks], colours, grid).save(image_dir / file_name)
            images.append(
                {
                    "license": 1,
                    "file_name": file_name,
                    "coco_url": "",
                    "flickr_url": "",
                    "height": grid * SIDE,
                    "width": grid * SIDE,
                    "date_captured": "",
                    "id": next_image_id,
                    # Not part of COCO's format: the ground truth the captions were made from.
                    "fashion_mnist_split": "train" if split != "test" else "test",
                    "fashion_mnist_indices": [int(i) for i in picks],
                    "fashion_mnist_labels": item_labels,
                    "colours": colours,
                }
            )
            for caption in captions_for(item_labels, colours, grid):
                anns.append({"image_id": next_image_id, "id": next_ann_id, "caption": caption})
                next_ann_id += 1
            next_image_id += 1
        path = ann_dir / f"captions_{split}.json"
        info = {
            "description": f"Fashion-MNIST {grid}x{grid} caption grids, {split} split",
            "version": "1.0",
            "year": 2025,
            "contributor": "nasforge",
            "date_created": "",
            "seed": seed,
        }
        content = {"info": info, "licenses": [LICENSE], "images": images, "annotations": anns}
        path.write_text(json.dumps(content, indent=1), encoding="utf-8")
        annotations[split] = path
    return CaptionDatasetPaths(root, image_dir, annotations)
