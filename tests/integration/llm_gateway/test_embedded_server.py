"""The embedded model server over real HTTP, through the official text-generation client.

The server is `python -m llm_gateway.embedded` with the real Qwen2.5-Coder-0.5B; requests
are greedy (deterministic) and a few tokens long.
"""

import asyncio
import json

import aiohttp
import pytest
from text_generation import AsyncClient
from text_generation import errors as tgi_errors
from text_generation.types import FinishReason, Grammar, GrammarType, Message

from llm_gateway.extraction import CODE_BLOCK_REGEX
from tests.integration.llm_gateway.conftest import EMBEDDED_MAX_CONCURRENT

PROMPT = "<|im_start|>user\nSay hello in five words.<|im_end|>\n<|im_start|>assistant\n"
LONG = (
    "<|im_start|>user\nCount from 1 to 200, separated by commas.<|im_end|>\n<|im_start|>assistant\n"
)


@pytest.fixture
def client(embedded_url):
    return AsyncClient(embedded_url, timeout=60)


async def metrics(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        text = await response.text()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()}


async def test_generate_is_greedy_and_reports_details(client):
    first = await client.generate(PROMPT, max_new_tokens=8, decoder_input_details=True)
    again = await client.generate(PROMPT, max_new_tokens=8)
    assert first.generated_text and first.generated_text == again.generated_text
    details = first.details
    assert details.finish_reason in (FinishReason.Length, FinishReason.EndOfSequenceToken)
    assert 1 <= details.generated_tokens <= 8
    assert len(details.tokens) == details.generated_tokens
    assert "".join(t.text for t in details.tokens if not t.special) == first.generated_text
    assert len(details.prefill) == 14  # the prompt's tokens, as the model's tokenizer counts
    assert again.details.prefill == []  # only when asked for


async def test_stream_matches_the_unary_answer(client):
    unary = await client.generate(PROMPT, max_new_tokens=6)
    events = [event async for event in client.generate_stream(PROMPT, max_new_tokens=6)]
    text = "".join(event.token.text for event in events if not event.token.special)
    assert text == unary.generated_text == events[-1].generated_text
    assert all(event.details is None for event in events[:-1])
    assert events[-1].details.generated_tokens == len(events)


async def test_length_and_stop_sequences_end_generation(client):
    short = await client.generate(PROMPT, max_new_tokens=2)
    assert short.details.finish_reason == FinishReason.Length
    assert short.details.generated_tokens == 2
    full = await client.generate(PROMPT, max_new_tokens=8)
    stop = full.generated_text.split()[1]  # a word the greedy answer is known to produce
    stopped = await client.generate(PROMPT, max_new_tokens=8, stop_sequences=[stop])
    assert stopped.details.finish_reason == FinishReason.StopSequence
    assert stopped.generated_text.endswith(stop) and len(stopped.generated_text) < len(
        full.generated_text
    )


async def test_a_seed_makes_sampling_repeatable(client):
    answers = [
        (await client.generate(PROMPT, max_new_tokens=6, do_sample=True, temperature=1.2, seed=7))
        for _ in range(2)
    ]
    assert answers[0].generated_text == answers[1].generated_text
    assert answers[0].details.seed == 7


async def test_json_grammar_constrains_the_answer(client):
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    prompt = "<|im_start|>user\nWhat is 2 + 3? Answer in JSON.<|im_end|>\n<|im_start|>assistant\n"
    response = await client.generate(
        prompt, max_new_tokens=16, grammar=Grammar(type=GrammarType.Json, value=schema)
    )
    assert isinstance(json.loads(response.generated_text)["answer"], int)


async def test_regex_grammar_makes_the_answer_one_code_block(client):
    prompt = (
        "<|im_start|>user\nSay hi, then write a Python add function.<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    response = await client.generate(
        prompt, max_new_tokens=24, grammar=Grammar(type=GrammarType.Regex, value=CODE_BLOCK_REGEX)
    )
    assert response.generated_text.startswith("```python\n")


async def test_chat_endpoint_with_the_models_own_template(client):
    messages = [Message(role="user", content="Say hi")]
    complete = await client.chat(messages, max_tokens=4, temperature=0.0001, seed=1)
    assert complete.choices[0].message.content
    assert complete.usage["completion_tokens"] <= 4
    chunks = [chunk async for chunk in await client.chat(messages, max_tokens=4, stream=True)]
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
    assert all(chunk.choices[0].finish_reason is None for chunk in chunks[:-1])


@pytest.mark.parametrize(
    ("arguments", "fragment"),
    [
        ({"max_new_tokens": 5000}, "must be <= 2048"),
        (
            {"max_new_tokens": 4, "grammar": Grammar(type=GrammarType.Regex, value="(?=a)a")},
            "grammar regex cannot be used: lookarounds",
        ),
        ({"max_new_tokens": 4, "best_of": 2, "do_sample": True}, "best_of"),
        ({"max_new_tokens": 4, "stop_sequences": ["a", "b", "c", "d", "e"]}, "up to 4"),
    ],
)
async def test_bad_requests_get_tgi_validation_errors(client, arguments, fragment):
    with pytest.raises(tgi_errors.ValidationError, match=fragment):
        await client.generate(PROMPT, **arguments)


async def test_raw_protocol_routes_and_error_bodies(embedded_url):
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{embedded_url}/health") as response:
            assert response.status == 200
        async with session.get(f"{embedded_url}/info") as response:
            info = await response.json()
        assert info["max_total_tokens"] == 2048 and info["model_id"] == "qwen2.5-coder-0.5b"
        async with session.post(f"{embedded_url}/generate", json={"inputs": ""}) as response:
            assert response.status == 422
            assert (await response.json())["error_type"] == "validation"
        async with session.post(f"{embedded_url}/", data=b"{not json") as response:
            assert response.status == 422
        body = {"inputs": PROMPT, "parameters": {"max_new_tokens": 2, "details": True}}
        async with session.post(f"{embedded_url}/generate", json=body) as response:
            single = await response.json()  # /generate answers one object, / a list
        assert single["details"]["generated_tokens"] == 2
        async with session.post(f"{embedded_url}/generate_stream", json=body) as response:
            lines = [line async for line in response.content if line.strip()]
        assert all(line.startswith(b"data:") for line in lines) and len(lines) == 2


async def test_overload_is_answered_429(client, embedded_url):
    calls = [
        asyncio.ensure_future(client.generate(PROMPT, max_new_tokens=6))
        for _ in range(EMBEDDED_MAX_CONCURRENT + 2)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    overloaded = [r for r in results if isinstance(r, tgi_errors.OverloadedError)]
    assert len(overloaded) == 2
    assert all(getattr(r, "generated_text", None) for r in results if r not in overloaded)


async def test_a_client_that_hangs_up_stops_the_model(client, embedded_url):
    before = await metrics(embedded_url)
    stream = client.generate_stream(LONG, max_new_tokens=400)
    seen = [await anext(stream), await anext(stream)]
    assert len(seen) == 2
    await stream.aclose()  # closes the connection mid-answer
    for _ in range(100):
        after = await metrics(embedded_url)
        if after["nasforge_embedded_cancelled_total"] > before["nasforge_embedded_cancelled_total"]:
            break
        await asyncio.sleep(0.1)
    assert (
        after["nasforge_embedded_cancelled_total"]
        == before["nasforge_embedded_cancelled_total"] + 1
    )
    generated = (
        after["nasforge_embedded_generated_tokens_total"]
        - before["nasforge_embedded_generated_tokens_total"]
    )
    assert generated < 100  # it stopped long before the 400 tokens it was asked for
    assert after["nasforge_embedded_active_requests"] == 0
