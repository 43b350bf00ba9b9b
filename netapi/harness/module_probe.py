"""Forward hooks that tell which submodule failed with which shapes, and trace shapes on success."""

import contextlib
from dataclasses import dataclass, field

import torch
from torch import nn

MAX_TRACE_ENTRIES = 200


def shapes(value: object) -> list:
    """Shapes of the tensors in a value (nested tuples and lists kept, others dropped)."""
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, tuple | list):
        return [shapes(item) for item in value if isinstance(item, torch.Tensor | tuple | list)]
    return []


def expectation(module: nn.Module) -> str:
    """What a layer expects of its input, in words, for the layers that say."""
    if isinstance(module, nn.modules.conv._ConvNd):
        return f"expects {module.in_channels} input channels"
    if isinstance(module, nn.Linear):
        return f"expects last dimension {module.in_features}"
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return f"expects {module.num_features} channels"
    if isinstance(module, nn.LayerNorm):
        return f"expects trailing dimensions {list(module.normalized_shape)}"
    if isinstance(module, nn.GroupNorm):
        return f"expects {module.num_channels} channels"
    if isinstance(module, nn.RNNBase):
        return f"expects input size {module.input_size} (batch_first={module.batch_first})"
    if isinstance(module, nn.Embedding):
        return f"expects token ids below {module.num_embeddings}"
    if isinstance(module, nn.MultiheadAttention):
        return f"expects embedding dimension {module.embed_dim}"
    return ""


@dataclass
class ModuleProbe:
    """Tracks the stack of modules being run; records leaf shapes when tracing."""

    model: nn.Module
    tracing: bool = False
    trace: list[dict] = field(default_factory=list)
    _stack: list[tuple[nn.Module, list]] = field(default_factory=list)
    _names: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._names = {id(module): name or "(model)" for name, module in self.model.named_modules()}

    def _pre(self, module, args):
        self._stack.append((module, shapes(args)))

    def _post(self, module, args, output):
        if self._stack and self._stack[-1][0] is module:
            _, received = self._stack.pop()
            if (
                self.tracing
                and len(self.trace) < MAX_TRACE_ENTRIES
                and not any(True for _ in module.children())
            ):
                self.trace.append(
                    {
                        "module": self._names.get(id(module), type(module).__name__),
                        "type": type(module).__name__,
                        "input_shapes": received,
                        "output_shapes": shapes(output),
                    }
                )

    @contextlib.contextmanager
    def watching(self):
        self._stack.clear()
        pre = nn.modules.module.register_module_forward_pre_hook(self._pre)
        post = nn.modules.module.register_module_forward_hook(self._post)
        try:
            yield self
        finally:
            pre.remove()
            post.remove()

    def failing_module(self) -> str:
        """The innermost module that was running when an exception escaped, in words."""
        for module, received in reversed(self._stack):
            if id(module) not in self._names:
                continue
            name = self._names[id(module)]
            words = f"in submodule '{name}' ({type(module).__name__}): received {received}"
            expected = expectation(module)
            return f"{words}; {expected}" if expected else words
        return ""
