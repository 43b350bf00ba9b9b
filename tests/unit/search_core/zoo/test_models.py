"""Every zoo model passes the static checks and runs on the host torch: forward, learn, shapes.

The code is ours, so running it in-process here is fine; the real sandbox check of every
model is tests/integration/sandbox/test_zoo_models.py.
"""

import ast
import math
import pathlib
import types

import pytest
import torch

from netapi.code_policy import CodePolicy
from netapi.harness import synthetic
from netapi.name_index import NameIndex
from netapi.outcomes import Outcome
from netapi.static_check import check_source
from netapi.tasks import IMG_CAPTIONING, IMG_CLASSIFICATION, TaskSpec, default_spec
from search_core.zoo import builtin_models

MODELS = {model.name: model for model in builtin_models()}
INDEX = pathlib.Path(__file__).resolve().parents[4] / "var" / "torch_index.json"
MAX_PARAMETERS = 1_500_000  # at the default spec: CIFAR-10 32x32, or 64x64 captions

FASHION_MNIST = TaskSpec(IMG_CLASSIFICATION, "fashion-mnist", (2, 1, 28, 28), (10,))
SPECS = {
    IMG_CLASSIFICATION: {
        "cifar10-32": default_spec(IMG_CLASSIFICATION),
        "fashion-28": FASHION_MNIST,
        "rgb-64-100classes": TaskSpec(IMG_CLASSIFICATION, "x", (2, 3, 64, 64), (100,)),
        "gray-30x45": TaskSpec(IMG_CLASSIFICATION, "x", (2, 1, 30, 45), (10,)),
    },
    IMG_CAPTIONING: {
        "coco-64": default_spec(IMG_CAPTIONING),
        "rgb-32-vocab50": TaskSpec(IMG_CAPTIONING, "x", (2, 3, 32, 32), (50,)),
        "gray-28-vocab50": TaskSpec(IMG_CAPTIONING, "x", (2, 1, 28, 28), (50,)),
    },
}
CASES = [
    pytest.param(name, spec, id=f"{name}-{label}")
    for name, model in MODELS.items()
    for label, spec in SPECS[model.task].items()
]


def load(code: str) -> types.ModuleType:
    module = types.ModuleType("zoo_model")
    exec(compile(code, "zoo_model.py", "exec"), module.__dict__)
    return module


def test_the_zoo_has_the_families_a_campaign_needs():
    classifiers = {n for n, m in MODELS.items() if m.task == IMG_CLASSIFICATION}
    captioners = {n: (m.encoder, m.decoder) for n, m in MODELS.items() if m.task == IMG_CAPTIONING}
    assert len(classifiers) >= 12
    assert {
        "ResNet",
        "VGG",
        "DenseNet",
        "MobileNetV2",
        "EfficientNetB0",
        "ConvNeXtT",
    } <= classifiers
    assert {
        "SqueezeNet",
        "InceptionNet",
        "SEResNet",
        "ShuffleNet",
        "MLPMixer",
        "ViT",
    } <= classifiers
    assert captioners == {
        "ResNetLSTM": ("ResNet", "LSTM"),
        "ResNetGRU": ("ResNet", "GRU"),
        "ResNetTransformer": ("ResNet", "Transformer"),
    }


@pytest.mark.parametrize("name", sorted(MODELS))
def test_static_check_passes_with_a_module_docstring(name):
    model = MODELS[name]
    verdict = check_source(model.code, model.task)
    assert verdict.outcome is Outcome.SUCCESS, verdict.to_dict()
    assert verdict.findings == ()
    assert ast.get_docstring(ast.parse(model.code)), "each model file starts with a docstring"


@pytest.mark.skipif(not INDEX.exists(), reason="needs var/torch_index.json (make runtime-image)")
@pytest.mark.parametrize("name", sorted(MODELS))
def test_static_check_with_the_sandbox_name_index_passes(name):
    model = MODELS[name]
    verdict = check_source(model.code, model.task, CodePolicy(index=NameIndex.load(INDEX)))
    assert verdict.outcome is Outcome.SUCCESS, verdict.to_dict()


def _loss(net, spec: TaskSpec, inputs, targets) -> torch.Tensor:
    if spec.is_captioning:
        logits, _ = net(inputs, targets)
        return net.criteria[0](logits.reshape(-1, spec.out_shape[0]), targets[:, 0, 1:].reshape(-1))
    return net.criteria[0](net(inputs), targets)


@pytest.mark.parametrize(("name", "spec"), CASES)
def test_runs_forward_and_learns(name, spec):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    module = load(MODELS[name].code)
    prm = synthetic.prm_for(spec, set(module.supported_hyperparameters()))
    net = module.Net(spec.in_shape, spec.out_shape, prm, torch.device("cpu"))
    batch, classes = spec.in_shape[0], spec.out_shape[0]
    inputs, targets = synthetic.batch(spec, generator)
    net.eval()
    with torch.no_grad():
        if spec.is_captioning:
            logits, _ = net(inputs, targets)
            assert logits.shape == (batch, targets.shape[2] - 1, classes)
            generated = net(inputs)
            assert generated.dim() == 2 and generated.shape[0] == batch
            assert not generated.is_floating_point() and 1 <= generated.shape[1] <= 64
        else:
            assert net(inputs).shape == (batch, classes)

    net.train_setup(prm)
    before = [p.detach().clone() for p in net.parameters()]
    net.learn(synthetic.loader(spec, generator))  # one epoch of 2 batches
    unused = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert unused == [], "every parameter takes part in the loss"
    assert all(torch.isfinite(p).all() for p in net.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    net.eval()
    with torch.no_grad():
        assert math.isfinite(_loss(net, spec, inputs, targets).item())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_parameter_count_is_small_at_the_default_spec(name):
    model = MODELS[name]
    spec = default_spec(model.task)
    module = load(model.code)
    prm = synthetic.prm_for(spec, set(module.supported_hyperparameters()))
    net = module.Net(spec.in_shape, spec.out_shape, prm, torch.device("cpu"))
    count = sum(p.numel() for p in net.parameters())
    print(f"{name}: {count:,} parameters at {spec.in_shape}")
    assert 50_000 < count < MAX_PARAMETERS, f"{name} has {count:,} parameters"
