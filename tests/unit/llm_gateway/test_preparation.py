"""Request validation: sampling, conversation, templates, answer kinds, constraints, lengths."""

import json
import re

import grpc
import pytest

from llm_gateway.config import GatewaySettings, ModelConfig, default_models
from llm_gateway.domain import (
    AnswerKind,
    ChatTurn,
    Constraint,
    GenerationRequest,
    PromptSelection,
)
from llm_gateway.extraction import CODE_BLOCK_REGEX
from llm_gateway.preparation import estimate_tokens, prepare
from llm_gateway.prompts.library import PromptLibrary
from netapi.tasks import default_spec
from rpc.error_mapping import status_of
from rpc.errors import InvalidArgument, NotFound, PromptTooLong

TGI = ModelConfig(
    name="coder",
    backend="tgi",
    url="http://127.0.0.1:9",
    max_total_tokens=2048,
    default_max_new_tokens=128,
    max_new_tokens_limit=512,
)
OPENAI = ModelConfig(name="chat", backend="openai", url="http://127.0.0.1:9", upstream_model="m")
USER = (ChatTurn("user", "Write a CNN."),)


@pytest.fixture(scope="module")
def prompts():
    return PromptLibrary.load()


def request(**fields) -> GenerationRequest:
    return GenerationRequest(**{"model": "coder", "messages": USER, **fields})


def test_plain_messages_are_rendered_with_the_chat_template(prompts):
    prepared = prepare(request(), TGI, prompts)
    assert prepared.upstream.prompt_text == (
        "<|im_start|>user\nWrite a CNN.<|im_end|>\n<|im_start|>assistant\n"
    )
    assert prepared.answer_kind is AnswerKind.TEXT
    assert prepared.upstream.sampling.max_new_tokens == 128  # the model's default
    assert prepared.upstream.sampling.temperature is None  # greedy
    assert prepared.prompt_id == ""
    assert prepared.worst_case_tokens == estimate_tokens(prepared.upstream.prompt_text) + 128


def test_openai_servers_get_the_messages_unrendered(prompts):
    prepared = prepare(request(model="chat"), OPENAI, prompts)
    assert prepared.upstream.prompt_text == ""
    assert prepared.upstream.messages == USER


def test_a_template_sets_kind_task_and_constraint(prompts):
    selection = PromptSelection(
        "fairnad_tune_hyperparameters",
        variables={
            "code": "x = 1",
            "hyperparameters": '{"lr": 0.1}',
            "learning_curves": "[]",
        },
    )
    prepared = prepare(request(messages=(), prompt=selection), TGI, prompts)
    assert prepared.prompt_id == "fairnad_tune_hyperparameters@v1"
    assert prepared.answer_kind is AnswerKind.JSON
    assert prepared.upstream.constraint.kind == "json"
    assert json.loads(prepared.json_schema)["required"] == ["hyperparameters", "rationale"]
    no_grammar = TGI.model_copy(update={"supports_constraints": False})
    unconstrained = prepare(request(messages=(), prompt=selection), no_grammar, prompts)
    assert unconstrained.upstream.constraint is None
    assert unconstrained.json_schema == prepared.json_schema  # still checked


def test_a_code_template_checks_against_its_task_unless_the_request_names_one(prompts):
    selection = PromptSelection(
        "nn_caption_generate",
        variables={"baseline_code": "x = 1"},
        list_variables={"classification_snippets": ("a = 1",) * 5},
    )
    prepared = prepare(
        request(messages=(), prompt=selection),
        TGI.model_copy(update={"max_total_tokens": 8192, "max_new_tokens_limit": 4096}),
        prompts,
    )
    assert prepared.answer_kind is AnswerKind.NET_CODE
    assert prepared.task.task == "img-captioning"
    repair = PromptSelection("repair", variables={"code": "x = 1", "error": "boom"})
    assert prepare(request(messages=(), prompt=repair), TGI, prompts).task.task == (
        "img-classification"
    )
    captioning = default_spec("img-captioning")
    assert (
        prepare(request(messages=(), prompt=repair, task=captioning), TGI, prompts).task
        is captioning
    )


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"messages": ()}, "exactly one of messages and prompt"),
        ({"prompt": PromptSelection("repair")}, "exactly one of messages and prompt"),
        ({"messages": (ChatTurn("robot", "hi"),)}, "role"),
        ({"messages": (ChatTurn("system", "be brief"),)}, "no user message"),
        ({"messages": (ChatTurn("user", "a\x00"),)}, "NUL"),
        ({"max_new_tokens": -1}, "negative"),
        ({"max_new_tokens": 513}, "over the limit"),
        ({"temperature": -0.5}, "temperature"),
        ({"temperature": float("nan")}, "temperature"),
        ({"temperature": 9.0}, "at most"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"seed": -1}, "seed"),
        ({"stop": ("a", "b", "c", "d", "e")}, "at most 4"),
        ({"stop": ("",)}, "stop sequences"),
        ({"constraint": Constraint("json", "{nope")}, "not JSON"),
        ({"constraint": Constraint("json", "[1]")}, "JSON object"),
        ({"constraint": Constraint("regex", "(")}, "does not compile"),
    ],
)
def test_bad_requests_are_invalid_arguments(prompts, fields, fragment):
    with pytest.raises(InvalidArgument, match=fragment):
        prepare(request(**fields), TGI, prompts)


def test_a_prompt_over_the_context_is_out_of_range_not_an_invalid_argument(prompts):
    """Well-formed but past the model's limit: PromptTooLong, OUT_OF_RANGE on the wire, so a
    search records its candidate as prompt_too_long instead of our side breaking."""
    long = request(messages=(ChatTurn("user", "word " * 8000),))
    with pytest.raises(PromptTooLong, match="over model coder's limit") as refused:
        prepare(long, TGI, prompts)
    assert not isinstance(refused.value, InvalidArgument)
    assert status_of(refused.value) == grpc.StatusCode.OUT_OF_RANGE


def test_unknown_templates_are_not_found(prompts):
    with pytest.raises(NotFound):
        prepare(request(messages=(), prompt=PromptSelection("nope")), TGI, prompts)


def test_openai_servers_take_no_regex_and_some_models_no_constraints(prompts):
    with pytest.raises(InvalidArgument, match="no regex"):
        prepare(request(model="chat", constraint=Constraint("regex", "a+")), OPENAI, prompts)
    plain = TGI.model_copy(update={"supports_constraints": False})
    with pytest.raises(InvalidArgument, match="no constraints"):
        prepare(request(constraint=Constraint("json", "{}")), plain, prompts)


def test_code_models_get_the_code_block_grammar_for_net_code_answers(prompts):
    coder = TGI.model_copy(update={"constrain_code": True})
    repair = PromptSelection("repair", variables={"code": "x = 1", "error": "boom"})
    constrained = prepare(request(messages=(), prompt=repair), coder, prompts)
    assert constrained.upstream.constraint == Constraint("regex", CODE_BLOCK_REGEX)
    assert constrained.json_schema is None
    assert prepare(request(messages=(), prompt=repair), TGI, prompts).upstream.constraint is None
    text = prepare(request(), coder, prompts)  # a TEXT answer stays free
    assert text.upstream.constraint is None
    own = Constraint("regex", "```python\n.*")
    assert (
        prepare(
            request(messages=(), prompt=repair, constraint=own), coder, prompts
        ).upstream.constraint
        is own
    )
    asked = prepare(request(answer_kind=AnswerKind.NET_CODE), coder, prompts)
    assert asked.upstream.constraint.value == CODE_BLOCK_REGEX


def test_the_code_block_regex_takes_one_block_with_any_backticks_inside():
    block = "```python\nx = `a` + ``b``\n``\n\ny = 1\n```"
    assert re.fullmatch(CODE_BLOCK_REGEX, block)
    assert re.fullmatch(CODE_BLOCK_REGEX, block + "\n")  # a trailing newline or two
    assert re.fullmatch(CODE_BLOCK_REGEX, "```python\n```")
    for other in (
        "Here it is:\n" + block,
        block + "\nThat is all.",
        "```python\nx = 1\n```\n```python\ny = 2\n```",
        "```py\nx = 1\n```",
        "```python\nx = 1",
    ):
        assert not re.fullmatch(CODE_BLOCK_REGEX, other), other


def test_sampling_is_normalised(prompts):
    sampling = prepare(
        request(temperature=0.0, top_p=1.0, seed=3, stop=("```",), max_new_tokens=7), TGI, prompts
    ).upstream.sampling
    assert (sampling.temperature, sampling.top_p, sampling.seed) == (None, None, 3)
    assert sampling.stop == ("```",) and sampling.max_new_tokens == 7


def test_settings_validate_models_and_tenants():
    with pytest.raises(ValueError, match="unique"):
        GatewaySettings(models=[TGI, TGI])
    with pytest.raises(ValueError, match="tenant"):
        GatewaySettings(tenant_limits={"Bad Name": {}})
    with pytest.raises(ValueError, match="slug"):
        ModelConfig(name="Bad Name", backend="tgi", url="http://x")
    with pytest.raises(ValueError, match="url"):
        ModelConfig(name="m", backend="tgi", url="ftp://x")
    with pytest.raises(ValueError, match="room for a prompt"):
        ModelConfig(name="m", backend="tgi", url="http://x", max_total_tokens=512)
    assert OPENAI.chat_template == "server"
    with pytest.raises(ValueError, match="regex grammars"):
        ModelConfig(name="m", backend="openai", url="http://x", constrain_code=True)
    with pytest.raises(ValueError, match="think"):
        ModelConfig(
            name="m",
            backend="tgi",
            url="http://x",
            chat_template="deepseek-r1",
            constrain_code=True,
        )
    # Off by default: the grammar costs 43% of the decoding speed on 2 cores (README).
    assert not default_models()[0].constrain_code


def test_settings_read_models_from_the_environment(monkeypatch):
    monkeypatch.setenv(
        "NASFORGE_GATEWAY_MODELS",
        json.dumps(
            [
                {
                    "name": "r1",
                    "backend": "tgi",
                    "url": "http://127.0.0.1:8080/",
                    "chat_template": "deepseek-r1",
                }
            ]
        ),
    )
    monkeypatch.setenv("NASFORGE_GATEWAY_PORT", "50061")
    settings = GatewaySettings()
    assert settings.port == 50061
    assert settings.models[0].url == "http://127.0.0.1:8080"
    assert settings.models[0].chat_template == "deepseek-r1"
