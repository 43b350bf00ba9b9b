"""A LEMUR-style model built from torchvision's blocks passes the real sandbox check.

The CPU runtime image carries PyPI's torchvision without its CUDA-built native part
(compose/runtime/torchvision_cpu.py): its Python building blocks must import, build, run
forward and learn in the locked-down container, and its native ops must fail as
torchvision's own error, a runtime error of the candidate.
"""

from netapi.outcomes import Outcome
from netapi.tasks import IMG_CLASSIFICATION, default_spec
from tests.unit.netapi.test_policy_torchvision import LEMUR_STYLE

NATIVE_OP = """
import torch
import torch.nn as nn
from torchvision.ops import nms


def supported_hyperparameters():
    return {"lr", "momentum"}


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.device = device
        self.fc = nn.Linear(in_shape[1] * in_shape[2] * in_shape[3], out_shape[0])

    def train_setup(self, prm):
        self.to(self.device)
        self.criteria = (nn.CrossEntropyLoss().to(self.device),)
        self.optimizer = torch.optim.SGD(self.parameters(), lr=prm["lr"], momentum=prm["momentum"])

    def learn(self, train_data):
        for inputs, labels in train_data:
            self.optimizer.zero_grad()
            self.criteria[0](self(inputs), labels).backward()
            self.optimizer.step()

    def forward(self, x):
        boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0]])
        keep = nms(boxes, torch.ones(1), 0.5)
        return self.fc(x.flatten(1)) + keep.sum()
"""


async def test_a_model_of_torchvision_blocks_passes_the_container_check(checker):
    result = await checker.check(LEMUR_STYLE, default_spec(IMG_CLASSIFICATION), tenant="acme")
    assert result.outcome is Outcome.SUCCESS, f"{result.stage}: {result.error_message}"
    assert result.output_shape == [2, 10]
    assert result.unused_parameters == []
    assert result.parameter_count > 10_000


async def test_a_native_torchvision_op_is_a_runtime_error_in_the_cpu_image(checker):
    result = await checker.check(NATIVE_OP, default_spec(IMG_CLASSIFICATION), tenant="acme")
    assert result.outcome is Outcome.RUNTIME_ERROR, f"{result.stage}: {result.error_message}"
    assert "Couldn't load custom C++ ops" in result.error_message
