"""The decoder family comes from the code: names that say nothing (or lie) change nothing."""

import pytest

from search_core.zoo import builtin_models
from search_core.zoo.decoders import ATTENTION, UNKNOWN_DECODER, decoder_family

HEADER = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"

ENCODER = """
class Alpha(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)

    def forward(self, x):
        return self.conv(x).flatten(2).transpose(1, 2)
"""

# A ViT-like image side: self-attention that is not the decoder's.
VIT_ENCODER = """
class Alpha(nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = nn.Conv2d(3, 16, 4, 4)
        self.blocks = nn.ModuleList([Gamma() for _ in range(2)])

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        for block in self.blocks:
            x = block(x)
        return x


class Gamma(nn.Module):
    def __init__(self):
        super().__init__()
        self.mix = nn.MultiheadAttention(16, 2, batch_first=True)

    def forward(self, x):
        return x + self.mix(x, x, x)[0]
"""


def _net(decoder_init: str, decoder_body: str = "return h", encoder: str = ENCODER) -> str:
    return (
        HEADER
        + encoder
        + f"""
class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.encoder = Alpha()
        self.embed = nn.Embedding(out_shape[0], 16)
{decoder_init}
        self.head = nn.Linear(16, out_shape[0])

    def learn(self, train_data):
        for images, captions in train_data:
            log_probs = F.log_softmax(self(images, captions)[0], -1)
            loss = -(log_probs * F.softmax(log_probs, -1)).sum()

    def forward(self, images, captions=None):
        feats = self.encoder(images)
        h = self.embed(captions[:, 0, :-1])
        {decoder_body}
"""
    )


@pytest.mark.parametrize(
    ("name", "family"),
    [("ResNetLSTM", "LSTM"), ("ResNetGRU", "GRU"), ("ResNetTransformer", "Transformer")],
)
def test_the_zoo_baselines(name, family):
    (model,) = [m for m in builtin_models() if m.name == name]
    assert decoder_family(model.code) == family


def test_classifiers_have_no_decoder():
    (model,) = [m for m in builtin_models() if m.name == "ResNet"]
    assert decoder_family(model.code) == "other"


@pytest.mark.parametrize(
    ("init", "family"),
    [
        ("        self.beta = nn.LSTM(16, 16, batch_first=True)", "LSTM"),
        ("        self.beta = nn.LSTMCell(16, 16)", "LSTM"),
        ("        self.beta = torch.nn.GRU(16, 16, batch_first=True)", "GRU"),
        ("        self.beta = nn.GRUCell(16, 16)", "GRU"),
        (
            "        self.beta = nn.TransformerDecoder(nn.TransformerDecoderLayer(16, 2), 2)",
            "Transformer",
        ),
        ("        self.beta = nn.MultiheadAttention(16, 2, batch_first=True)", "Transformer"),
        ("        self.beta = nn.Linear(16, 16)", "other"),
    ],
)
def test_modules_decide_whatever_the_names(init, family):
    assert decoder_family(_net(init)) == family


def test_an_rnn_with_multihead_attention_is_an_attention_decoder():
    init = (
        "        self.beta = nn.GRU(16, 16, batch_first=True)\n"
        "        self.delta = nn.MultiheadAttention(16, 2, batch_first=True)"
    )
    assert decoder_family(_net(init)) == ATTENTION


def test_an_rnn_that_weighs_features_by_a_softmax_attends():
    init = "        self.beta = nn.LSTM(16, 16, batch_first=True)"
    body = (
        "scores = (feats * h[:, -1:]).sum(-1)\n"
        "        alpha = F.softmax(scores, dim=1)\n"
        "        context = (feats * alpha.unsqueeze(2)).sum(1)\n"
        "        return context"
    )
    assert decoder_family(_net(init, body)) == ATTENTION


def test_attention_in_a_helper_class_the_decoder_builds_counts():
    code = _net(
        "        self.beta = nn.LSTM(16, 16, batch_first=True)\n        self.delta = Omega()"
    ) + (
        """
class Omega(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.Softmax(dim=1)

    def forward(self, h, feats):
        return torch.bmm(self.norm(torch.bmm(feats, h)).transpose(1, 2), feats)
"""
    )
    assert decoder_family(code) == ATTENTION


def test_a_softmax_only_sampled_from_is_no_attention():
    init = "        self.beta = nn.LSTM(16, 16, batch_first=True)"
    body = "probs = F.softmax(self.head(h), -1)\n        return torch.multinomial(probs[:, -1], 1)"
    assert decoder_family(_net(init, body)) == "LSTM"


def test_a_vit_encoders_self_attention_is_not_the_decoders():
    init = "        self.beta = nn.LSTM(16, 16, batch_first=True)"
    assert decoder_family(_net(init, encoder=VIT_ENCODER)) == "LSTM"


def test_imports_under_other_names_resolve():
    code = _net("        self.beta = Rec(16, 16, batch_first=True)").replace(
        HEADER, HEADER + "from torch.nn import GRU as Rec\n"
    )
    assert decoder_family(code) == "GRU"


def test_a_subclass_of_a_torch_rnn_is_that_rnn():
    code = _net("        self.beta = Kappa(16, 16)") + "\nclass Kappa(nn.LSTM):\n    pass\n"
    assert decoder_family(code) == "LSTM"


@pytest.mark.parametrize("code", ["", "def broken(:\n", "x = 1\n"])
def test_no_readable_model_is_unknown(code):
    assert decoder_family(code) == UNKNOWN_DECODER
