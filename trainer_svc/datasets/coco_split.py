"""One COCO captions annotation file and its image folder as a captioning Split."""

from pathlib import Path

from PIL import Image

from trainer_svc.data.coco import load_coco
from trainer_svc.datasets.contents import DatasetError


class CocoCaptionSplit:
    """The captioned images of ``annotation_file`` (images without a caption left out),
    in image-id order; each image read from ``image_dir`` by its ``file_name``."""

    def __init__(self, annotation_file: Path, image_dir: Path) -> None:
        self.coco = load_coco(annotation_file)
        self.image_dir = Path(image_dir)
        self.image_ids = sorted(i for i in self.coco.getImgIds() if self.coco.imgToAnns.get(i))

    def __len__(self) -> int:
        return len(self.image_ids)

    def image_path(self, index: int) -> Path:
        return self.image_dir / self.coco.imgs[self.image_ids[index]]["file_name"]

    def image(self, index: int) -> Image.Image:
        with Image.open(self.image_path(index)) as image:
            return image.convert("RGB")

    def label(self, index: int) -> int:
        raise DatasetError("a captions file has captions, not class labels")

    def captions(self, index: int) -> list[str]:
        annotations = sorted(self.coco.imgToAnns[self.image_ids[index]], key=lambda a: a["id"])
        return [a["caption"] for a in annotations]
