"""The trainer's datasets: register (verify, prepare once, record), look up, list.

Registration is all or nothing: the files are read whole, the dataset is prepared at the
trainer's default sizes and the dataset's default transform (so that the first search
does not pay for it, and a file that cannot be prepared is refused now), and only then is
the record written.
"""

from dataclasses import replace

from trainer_svc.config import TrainerSettings
from trainer_svc.datasets.contents import DatasetError
from trainer_svc.datasets.formats import download
from trainer_svc.datasets.registry import DatasetRecord, Registry
from trainer_svc.prepare import Sizes, prepare


def default_sizes(record: DatasetRecord, settings: TrainerSettings) -> Sizes:
    """The trainer's default sizes, cut to what the dataset has.

    Without a validation split of its own, a fifth of the training data (at most the
    default validation size) is held out for validation.
    """
    counts = record.counts
    if "val" in counts:
        val = min(settings.validation_samples, counts["val"])
        train = min(settings.train_samples, counts["train"])
    else:
        val = min(settings.validation_samples, max(1, counts["train"] // 5))
        train = min(settings.train_samples, counts["train"] - val)
    test = min(settings.test_samples, counts["test"])
    if min(train, val, test) < 1:
        raise DatasetError(
            f"dataset {record.name!r} is too small to train on: {counts} "
            "(needs at least 2 training and 1 test item)"
        )
    return Sizes(train, val, test)


class DatasetCatalog:
    """Registered and built-in datasets of one trainer deployment."""

    def __init__(self, settings: TrainerSettings) -> None:
        self._settings = settings
        self.registry = Registry(
            settings.registry_root, settings.data_root, settings.dataset_sources
        )

    def get(self, name: str) -> DatasetRecord:
        return self.registry.get(name)

    def list(self) -> list[DatasetRecord]:
        return self.registry.list()

    def add(
        self, name: str, format_name: str, path: str, *, fetch: bool = False, again: bool = False
    ) -> DatasetRecord:
        """Verify, prepare once and record a dataset; DatasetError (nothing written) if not.

        ``fetch`` downloads the files into ``path`` first where the format can;
        ``again`` replaces a registration of the same name.
        """
        if fetch:
            self.registry.check_name(name, again)
            path = str(download(format_name, self.registry.source_folder(path)))
        record = self.registry.verify(name, format_name, path, again)
        settings = self._settings
        prepared = prepare(
            record,
            record.default_transform,
            default_sizes(record, settings),
            settings.cache_root,
            settings.data_root,
            settings.labels_root,
        )
        record = replace(record, outputs=prepared.num_outputs)
        self.registry.save(record)
        return record
