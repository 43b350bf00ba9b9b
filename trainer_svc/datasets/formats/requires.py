"""torchvision, which some formats read through, imported only when such a format is used.

The trainer's image may lack it; a format that needs it then says so instead of falling
back to a second reader of its own.
"""

from types import ModuleType

from trainer_svc.datasets.contents import DatasetError


def torchvision_datasets(format_name: str) -> ModuleType:
    """``torchvision.datasets``, or a DatasetError saying the format needs it."""
    try:
        import torchvision.datasets
    except ImportError as e:
        raise DatasetError(
            f"the {format_name} format is read with torchvision, which cannot be imported"
            f" here ({e}): install torchvision beside torch in the trainer's environment"
        ) from None
    return torchvision.datasets
