"""The forward pass's total flops, counted by torch's FlopCounterMode without per-module rows."""

from torch.utils.flop_counter import FlopCounterMode


class _NoModuleTracking:
    """Stands in for FlopCounterMode's ModuleTracker: every count goes to the total only.

    ModuleTracker hooks autograd on each module's inputs that require grad, and fails on a
    view of a parameter made under no_grad (`self.query.expand(B, -1, -1)` fed to
    nn.MultiheadAttention: "Expected gradient function to be set"). The harness reads only
    the total, so it needs no module attribution, nor the global hooks that pay for it.
    """

    parents = frozenset({"Global"})

    def __enter__(self) -> "_NoModuleTracking":
        return self

    def __exit__(self, *args: object) -> None:
        return None


class TotalFlops(FlopCounterMode):
    """FlopCounterMode whose only figure is get_total_flops()."""

    def __init__(self) -> None:
        super().__init__(display=False)
        self.mod_tracker = _NoModuleTracking()
