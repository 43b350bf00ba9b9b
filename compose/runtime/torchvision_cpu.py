"""Lets PyPI's torchvision import beside the CPU build of torch (the CPU runtime image only).

PyPI's torchvision wheel is built against CUDA torch: its native `_C.so` cannot load beside
torch's CPU build (the image removes it), and without it `import torchvision` fails in
`torchvision/_meta_registrations.py`, which registers fake kernels for the operators
`torchvision::nms` and `torchvision::qnms` that `_C.so` would have defined ("operator
torchvision::nms does not exist"). Defining those two schemas, without kernels, before
torchvision's own code runs lets its whole Python part import: models, ops.misc,
ops.stochastic_depth, transforms. A native op (nms, roi_align...) still fails, with
torchvision's own "Couldn't load custom C++ ops".

Trusted image code, not a candidate's. A `.pth` line in the venv imports this module at
every interpreter start (Debian's own sitecustomize would shadow one of ours), so it must
stay cheap: it imports nothing but sys, and torch only when torchvision is first imported.
"""

import sys

_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)


class TorchvisionSchemas:
    """A meta-path finder that finds nothing: at the first `import torchvision` it defines the
    two schemas, takes itself off sys.meta_path and lets the normal import go on."""

    library = None  # the torch.library.Library that holds the schemas; kept alive here

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "torchvision":
            return None
        # A new list, not remove(): the import in progress iterates the old one, and
        # removing from it would make it skip the finder after this one.
        sys.meta_path = [finder for finder in sys.meta_path if finder is not cls]
        import torch

        cls.library = torch.library.Library("torchvision", "DEF")
        for schema in _SCHEMAS:
            cls.library.define(schema)
        return None


sys.meta_path.insert(0, TorchvisionSchemas)
