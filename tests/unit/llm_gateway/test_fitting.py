"""Fitting a library prompt to the context: real NN-Caption prompts from the zoo, the order of
the steps, byte-identical prompts when they fit, and refusals that say what was tried."""

import ast
import io
import random
import tokenize
from pathlib import Path

import pytest

from llm_gateway.config import ModelConfig, default_models
from llm_gateway.core import LlmGateway
from llm_gateway.domain import (
    FinishReason,
    GenerationRequest,
    PromptSelection,
    UpstreamAnswer,
)
from llm_gateway.fitting import MIN_NEW_TOKENS, key_blocks, strip_comments
from llm_gateway.preparation import estimate_tokens_high, prepare
from llm_gateway.prompts.library import PromptLibrary, load_template
from llm_gateway.server import generation_to_pb, last_stream_message
from localstack.environment import CONTEXT_TOKENS
from netapi.code_policy import CodePolicy
from rpc.errors import PromptTooLong
from search_core.zoo.registry import builtin_models, sample_snippets

REPO_ROOT = Path(__file__).resolve().parents[3]
MODEL_FILE = REPO_ROOT / "var" / "models" / "qwen2.5-coder-0.5b.gguf"
# The embedded model as the local stack and compose serve it (localstack/environment.py,
# compose/compose.yaml): a 12,288-token context and 1,024 new tokens by default.
STACK = ModelConfig(
    name="qwen2.5-coder-0.5b",
    backend="embedded",
    url="http://127.0.0.1:9",
    max_total_tokens=CONTEXT_TOKENS,
    default_max_new_tokens=1024,
    max_new_tokens_limit=2048,
)


@pytest.fixture(scope="module")
def prompts():
    return PromptLibrary.load()


@pytest.fixture(scope="module")
def zoo():
    return builtin_models()


def nn_caption(zoo, k: int) -> PromptSelection:
    baseline = next(model for model in zoo if model.name == "ResNetLSTM")
    snippets = sample_snippets(zoo, baseline, k, random.Random(0))
    return PromptSelection(
        "nn_caption_generate",
        variables={"baseline_code": baseline.code},
        list_variables={"classification_snippets": tuple(model.code for model in snippets)},
    )


def request(selection: PromptSelection, **fields) -> GenerationRequest:
    return GenerationRequest(model=STACK.name, prompt=selection, **fields)


def unfitted_tokens(prompts, selection: PromptSelection) -> int:
    template = prompts.get(selection.name)
    turns = template.render(selection.variables, selection.list_variables)
    return estimate_tokens_high(prepare_text(turns))


def prepare_text(turns) -> str:
    from llm_gateway.chat_templates import render_chat

    return render_chat("chatml", turns)


def test_ten_zoo_snippets_fit_the_stacks_context_where_they_did_not(prompts, zoo):
    selection = nn_caption(zoo, 10)
    assert unfitted_tokens(prompts, selection) + 1024 > STACK.max_total_tokens  # over before
    prepared = prepare(request(selection), STACK, prompts)
    assert prepared.fitting[0] == "comments-stripped"
    assert not any(step.startswith("snippets-dropped") for step in prepared.fitting)
    assert prepared.upstream.sampling.max_new_tokens == 1024  # the default, untouched
    sent = prepared.upstream.prompt_text
    assert estimate_tokens_high(sent) + 1024 <= STACK.max_total_tokens
    assert "### Classification model 10\n" in sent
    assert "class Net(nn.Module)" in sent and "# (B, 128, H/4, W/4)" not in sent


def test_a_smaller_context_cuts_every_snippet_then_drops_to_the_smallest_k(prompts, zoo):
    selection = nn_caption(zoo, 10)
    smaller = STACK.model_copy(update={"max_total_tokens": 8192})
    prepared = prepare(request(selection), smaller, prompts)
    assert prepared.fitting == ("comments-stripped", "snippets-cut:10", "snippets-dropped:5")
    sent = prepared.upstream.prompt_text
    assert "### Classification model 5\n" in sent and "Classification model 6" not in sent
    baseline, rest = sent.split("## Classification models", 1)
    snippets = rest.split("## The Net API", 1)[0]
    assert "def train_setup" in baseline  # the baseline stays whole: only snippets are cut
    assert "def train_setup" not in snippets and "def learn" not in snippets
    assert estimate_tokens_high(sent) + 1024 <= 8192


def test_the_answer_is_shortened_last_and_never_under_the_floor(prompts, zoo):
    # Five cut snippets need about 5,570 tokens counted high: 6,400 leaves 830 for the answer.
    context = 6400
    prepared = prepare(
        request(nn_caption(zoo, 5)), STACK.model_copy(update={"max_total_tokens": context}), prompts
    )
    new_tokens = prepared.upstream.sampling.max_new_tokens
    assert prepared.fitting == (
        "comments-stripped",
        "snippets-cut:5",
        f"max-new-tokens:{new_tokens}",
    )
    assert MIN_NEW_TOKENS <= new_tokens < 1024
    assert estimate_tokens_high(prepared.upstream.prompt_text) + new_tokens <= context


def test_a_prompt_that_fits_is_sent_byte_identical(prompts, zoo):
    selection = nn_caption(zoo, 5)
    template = prompts.get("nn_caption_generate")
    rendered = template.render(selection.variables, selection.list_variables)
    prepared = prepare(request(selection), STACK, prompts)
    assert prepared.fitting == ()
    assert prepared.upstream.messages == rendered
    assert prepared.upstream.prompt_text == prepare_text(rendered)
    assert prepared.upstream.sampling.max_new_tokens == 1024


def test_the_gateways_own_4096_context_cannot_hold_nn_caption_and_says_what_it_tried(prompts, zoo):
    default = default_models()[0]  # the embedded model's ModelConfig defaults
    with pytest.raises(PromptTooLong) as refused:
        prepare(request(nn_caption(zoo, 10)), default, prompts)
    message = str(refused.value)
    for tried in (
        "stripping comments and docstrings",
        "cutting the code snippets to their key blocks",
        "dropping snippets (classification_snippets down to 5)",
        f"lowering max_new_tokens to no less than {MIN_NEW_TOKENS}",
        "limit of 4096 tokens",
    ):
        assert tried in message


def test_plain_messages_are_still_refused_without_fitting(prompts):
    from llm_gateway.domain import ChatTurn

    long = GenerationRequest(model="m", messages=(ChatTurn("user", "x " * 9000),))
    with pytest.raises(PromptTooLong, match=r"over model .* limit of 4096"):
        prepare(long, default_models()[0], prompts)


def comments(code: str) -> list[str]:
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    return [token.string for token in tokens if token.type == tokenize.COMMENT]


def docstrings(tree: ast.Module) -> int:
    scopes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return sum(1 for node in ast.walk(tree) if isinstance(node, scopes) and ast.get_docstring(node))


def test_every_zoo_model_stripped_and_cut_still_parses(zoo):
    for model in zoo:
        stripped = strip_comments(model.code)
        tree = ast.parse(stripped)
        assert comments(stripped) == [] and docstrings(tree) == 0, model.name
        cut = key_blocks(stripped)
        names = {node.name for node in ast.parse(cut).body if hasattr(node, "name")}
        assert "Net" in names and "supported_hyperparameters" not in names, model.name
        assert "def train_setup" not in cut and "def learn" not in cut, model.name
        assert "def forward" in cut and "def __init__" in cut, model.name
        assert len(cut) < len(stripped)


def test_key_blocks_keep_what_net_uses_and_drop_the_rest():
    code = '''"""Module doc."""
import torch.nn as nn

HYPERPARAMETERS = {"lr": 0.1}
WIDTH = 16  # used by Net


def supported_hyperparameters():
    return {"lr"}


def make_block(c):
    return Block(c)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3)

    def forward(self, x):
        return self.conv(x)

    def describe(self):
        return "unused"


class Unused(nn.Module):
    pass


class Net(nn.Module):
    def __init__(self, in_shape, out_shape, prm, device):
        super().__init__()
        self.body = self._layers()

    @staticmethod
    def helper():
        return make_block(WIDTH)

    def _layers(self):
        return nn.Sequential(self.helper())

    def train_setup(self, prm):
        self.optimizer = None

    def learn(self, data):
        pass

    def forward(self, x):
        return self.body(x)


if __name__ == "__main__":
    print(Net((1, 3, 8, 8), (10,), {}, "cpu"))
'''
    cut = key_blocks(strip_comments(code))
    tree = ast.parse(cut)
    top = [getattr(node, "name", None) or type(node).__name__ for node in tree.body]
    assert top == ["Import", "Assign", "make_block", "Block", "Net"]
    assert "WIDTH = 16" in cut and "HYPERPARAMETERS" not in cut and "__main__" not in cut
    assert "describe" not in cut and "Unused" not in cut
    assert "@staticmethod\n    def helper" in cut and "def _layers" in cut


def test_stripping_keeps_strings_and_empty_bodies_valid():
    code = 'class A:\n    """Only a docstring."""\n\n\nx = "# not a comment"  # a comment\n'
    assert strip_comments(code) == 'class A:\n    pass\n\n\nx = "# not a comment"\n'
    one_line = 'def f(): """doc"""; return 1\n'
    assert ast.parse(strip_comments(one_line)).body[0].body[0].value.value == 1
    broken = "def broken(:\n    # stays\n"
    assert strip_comments(broken) == broken and key_blocks(broken) == broken


def test_lists_without_allowed_lengths_drop_one_item_at_a_time(tmp_path):
    path = tmp_path / "snippets.v1.toml"
    path.write_text(
        'name = "snippets"\nversion = 1\nanswer_kind = "net_code"\n'
        '[variables.items]\nkind = "code_list"\n'
        '[[messages]]\nrole = "user"\ntext = "Look:\\n{{items}}"\n'
    )
    library = PromptLibrary([load_template(path)])
    item = "x = 1\n" + "y = 2\n" * 100  # 606 bytes that neither strip nor cut
    selection = PromptSelection("snippets", list_variables={"items": (item,) * 4})
    small = STACK.model_copy(
        update={
            "max_total_tokens": 1000,
            "default_max_new_tokens": 512,
            "max_new_tokens_limit": 512,
        }
    )
    prepared = prepare(GenerationRequest(model="m", prompt=selection), small, library)
    assert prepared.fitting == ("snippets-dropped:2",)
    assert prepared.upstream.prompt_text.count("y = 2") == 200
    tiny = small.model_copy(
        update={"max_total_tokens": 300, "default_max_new_tokens": 128, "max_new_tokens_limit": 256}
    )
    with pytest.raises(PromptTooLong, match=r"items down to 1.*no less than 128"):
        prepare(GenerationRequest(model="m", prompt=selection), tiny, library)


class Canned:
    """A backend that answers one fixed text and records what it was sent."""

    kind = "tgi"

    def __init__(self) -> None:
        self.sent = []

    async def generate(self, request, budget_seconds):
        self.sent.append(request)
        return UpstreamAnswer("```python\nx = 1\n```", FinishReason.EOS, 9, None)

    async def close(self) -> None:
        pass


async def test_the_generation_reports_the_fitting(prompts, zoo, monkeypatch):
    from llm_gateway.config import GatewaySettings

    settings = GatewaySettings(models=[STACK], auth_tokens_file=None, plaintext=True)
    gateway = LlmGateway(settings, policy=CodePolicy(), prompts=prompts)
    backend = Canned()
    monkeypatch.setattr(gateway._models[STACK.name], "backend", backend)
    generation = await gateway.generate(request(nn_caption(zoo, 10)), tenant="acme", deadline=None)
    assert generation.prompt_fitting[0] == "comments-stripped"
    assert backend.sent[0].sampling.max_new_tokens == 1024
    assert tuple(generation_to_pb(generation).prompt_fitting) == generation.prompt_fitting
    assert tuple(last_stream_message(generation, 3).prompt_fitting) == generation.prompt_fitting
    await gateway.close()


@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="needs make llm (the 0.5B model)")
def test_the_fitted_prompt_fits_by_the_models_own_count(prompts, zoo):
    llama_cpp = pytest.importorskip("llama_cpp")
    vocab = llama_cpp.Llama(str(MODEL_FILE), vocab_only=True, verbose=False)
    prepared = prepare(request(nn_caption(zoo, 10)), STACK, prompts)
    tokens = vocab.tokenize(prepared.upstream.prompt_text.encode(), add_bos=False, special=True)
    assert len(tokens) + 1024 <= STACK.max_total_tokens
