"""Regex grammars on the embedded server: the regex -> GBNF translation (checked by llama.cpp's
own parser), its clear refusals, the TGI protocol accepting `{type: regex}`, and the real 0.5B
model answering under the code-block grammar."""

import re
import threading
from pathlib import Path

import pytest

from llm_gateway.embedded.regex_grammar import regex_to_gbnf
from llm_gateway.extraction import CODE_BLOCK_REGEX

llama_cpp = pytest.importorskip("llama_cpp")  # installed by make llm

from llm_gateway.embedded import protocol  # noqa: E402  (imports llama_cpp)
from llm_gateway.embedded.engine import GenerateParams, LlamaEngine, check_grammar  # noqa: E402

MODEL_FILE = Path(__file__).resolve().parents[3] / "var" / "models" / "qwen2.5-coder-0.5b.gguf"
LIMITS = protocol.Limits(1000, 2000, 20, 4)


@pytest.mark.parametrize(
    ("regex", "gbnf"),
    [
        ("abc", '"abc"'),
        ("a+b*c?", '("a"+ "b"* "c"?)'),
        ("(ab)*c", '(("ab")* "c")'),
        ("(?:x|y|)z{2,5}", '(("x" | "y" | "") "z"{2,5})'),
        ("a{3}b{2,}c{,4}d{,}", '("a"{3} "b"{2,} "c"{0,4} "d"*)'),
        (r"[^`\n]", r"[^`\x0A]"),
        (r"[]a-z\-^]", r"[\x5Da-z\x2D\x5E]"),
        (r"\d+\.\w\s\S", r'([0-9]+ "." [0-9A-Za-z_] [ \t\n\r\x0B\x0C] [^ \t\n\r\x0B\x0C])'),
        (r'"\\\x41é', r'"\"\\A\xE9"'),
        (".", r"[^\x0A]"),
        ("^a|b$", '("a" | "b")'),
        ("a{}", '"a{}"'),  # Python reads an empty brace pair as text
        ("", '""'),
    ],
)
def test_the_subset_translates_and_llama_cpp_parses_it(regex, gbnf):
    grammar = regex_to_gbnf(regex)
    assert grammar == f"root ::= {gbnf}\n"
    check_grammar(grammar)


def test_the_code_block_regex_translates():
    grammar = regex_to_gbnf(CODE_BLOCK_REGEX)
    assert grammar == (
        'root ::= ("```python\\x0A" ("`"{0,2} ([^`\\x0A] [^\\x0A]*)? "\\x0A")* '
        '"```" "\\x0A"{0,2})\n'
    )
    check_grammar(grammar)


@pytest.mark.parametrize(
    ("regex", "reason"),
    [
        ("(?=a)a", "lookarounds"),
        ("(?<!a)b", "lookarounds"),
        (r"(a)\1", "backreferences"),
        ("(?P<n>a)(?P=n)", "named groups"),
        ("a*?", "lazy quantifiers"),
        ("a{2,3}?", "lazy quantifiers"),
        ("a++", "possessive"),
        (r"a\bb", r"anchor \\b"),
        (r"\Aa", r"anchor \\A"),
        ("a^b", "anchor '\\^'"),
        ("a$b", r"anchor '\$'"),
        ("(?i)a", "inline flags"),
        ("(a*)*", "can match the empty string"),
        ("(a|)+", "can match the empty string"),
        (r"[\S]", "inside a character class"),
        (r"\012", "octal"),
        (r"\N{BULLET}", r"escape \\N"),
        ("(", "does not compile"),
    ],
)
def test_anything_else_is_refused_with_the_reason(regex, reason):
    with pytest.raises(ValueError, match=reason):
        regex_to_gbnf(regex)


def test_llama_cpps_parser_catches_what_it_cannot_read():
    with pytest.raises(ValueError, match="cannot parse"):
        check_grammar('root ::= "a" [b-c')
    with pytest.raises(ValueError, match="cannot parse"):
        check_grammar('root ::= ("a" | "")+ "b"')  # left recursion: why the translator refuses


def body(grammar: dict) -> dict:
    return {"inputs": "hi", "parameters": {"max_new_tokens": 4, "grammar": grammar}}


def test_the_protocol_takes_regex_and_json_grammars_as_gbnf():
    call = protocol.parse_generate(body({"type": "regex", "value": CODE_BLOCK_REGEX}), LIMITS)
    assert call.params.grammar == regex_to_gbnf(CODE_BLOCK_REGEX)
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
    call = protocol.parse_generate(body({"type": "json", "value": schema}), LIMITS)
    assert "root ::=" in call.params.grammar
    check_grammar(call.params.grammar)


@pytest.mark.parametrize(
    ("grammar", "reason"),
    [
        ({"type": "regex", "value": "(?=x)"}, "grammar regex cannot be used: lookarounds"),
        ({"type": "regex", "value": ""}, "non-empty string"),
        ({"type": "json", "value": {"type": "nonsense"}}, "cannot be used as a grammar"),
        ({"type": "ebnf", "value": "x"}, "json|regex"),
    ],
)
def test_a_grammar_the_server_cannot_use_is_a_422(grammar, reason):
    with pytest.raises(protocol.ProtocolError, match=reason) as refused:
        protocol.parse_generate(body(grammar), LIMITS)
    assert refused.value.status == 422 and refused.value.body()["error_type"] == "validation"


@pytest.mark.skipif(not MODEL_FILE.is_file(), reason="needs make llm (the 0.5B model)")
def test_the_real_model_answers_a_fenced_block_under_the_code_grammar():
    engine = LlamaEngine(MODEL_FILE, n_ctx=512, threads=1)
    prompt = engine.chat_prompt(
        [{"role": "user", "content": "Say hello, then write a Python function that adds a and b."}]
    )
    grammar = regex_to_gbnf(CODE_BLOCK_REGEX)
    engine.check_grammar(grammar)
    params = GenerateParams(max_new_tokens=40, grammar=grammar)
    tokens = list(engine.generate(engine.tokenize(prompt), params, threading.Event()))
    text = "".join(token.text for token in tokens if not token.special)
    assert text.startswith("```python\n")
    if tokens[-1].special:  # it finished within 40 tokens: the whole answer is the block
        assert re.fullmatch(CODE_BLOCK_REGEX, text)
