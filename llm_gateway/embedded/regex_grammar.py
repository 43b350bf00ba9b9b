"""A regular expression (TGI's ``{type: regex}`` grammar) as a llama.cpp GBNF grammar.

The whole answer must match, as TGI's regex grammars mean. The subset translated:

- literals, and the escapes ``\\n \\t \\r \\f \\v \\0 \\xhh \\uhhhh \\Uhhhhhhhh`` and ``\\`` before
  any punctuation;
- ``.`` (any character but a newline), and ``\\d \\D \\w \\W \\s \\S``, read as ASCII classes
  (``[0-9]``, ``[0-9A-Za-z_]``, ``[ \\t\\n\\r\\v\\f]``) where Python reads Unicode;
- character classes with ranges and negation (``[a-z_]``, ``[^`\\n]``); ``\\d \\w \\s`` inside them;
- groups ``(...)`` and ``(?:...)``, alternation ``|``;
- ``*``, ``+``, ``?``, ``{m}``, ``{m,}``, ``{,n}``, ``{m,n}``;
- a leading ``^`` and a trailing ``$``, which only restate the implied full match.

Anything else raises ValueError saying what: lookarounds, backreferences, lazy and possessive
quantifiers, other anchors (``\\b``, ``\\A``, ``^`` inside), inline flags, named groups, and
unbounded repetition of something that can match nothing (``(a*)*``: llama.cpp refuses some
such grammars as left recursion, so none are sent).
"""

import re
from dataclasses import dataclass

_SHORTHANDS = {
    "d": "0-9",
    "w": "0-9A-Za-z_",
    "s": " \\t\\n\\r\\x0B\\x0C",
}
_CHAR_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0", "a": "\a"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
_QUANTIFIER = re.compile(r"\{(\d*)(,(\d*))?\}")


@dataclass(frozen=True)
class _Node:
    """A translated piece of the regex.

    ``text``: its GBNF; ``nullable``: it can match the empty string; ``atomic``: a postfix
    operator applies to all of it; ``char``: set for one literal character, which is merged
    with its neighbours into one quoted string.
    """

    text: str
    nullable: bool
    atomic: bool = True
    char: str | None = None


_EMPTY = _Node('""', True)


def _escaped(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02X}"
    if code < 0x10000:
        return f"\\u{code:04X}"
    return f"\\U{code:08X}"


def _literal_char(char: str) -> str:
    """One character inside a GBNF "..." literal."""
    if char in '"\\':
        return "\\" + char
    return char if char.isascii() and char.isprintable() else _escaped(char)


def _class_char(char: str) -> str:
    """One character inside a GBNF [...] class."""
    if char in '\\]-[^"' or not (char.isascii() and char.isprintable()):
        return _escaped(char)
    return char


def _literal(node: _Node) -> _Node:
    """A one-character node as a quoted literal of its own."""
    return _Node(f'"{_literal_char(node.char)}"', False) if node.char is not None else node


class _Parser:
    """A recursive-descent reading of the pattern, position by position."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.at = 0

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{what} (at position {self.at} of the regex)")

    def peek(self, ahead: int = 0) -> str:
        index = self.at + ahead
        return self.pattern[index] if index < len(self.pattern) else ""

    def take(self) -> str:
        char = self.peek()
        self.at += 1
        return char

    def whole(self) -> str:
        if self.peek() == "^":
            self.at += 1  # the leading ^ of the implied full match
        node = _literal(self.alternation(top=True))
        if self.at < len(self.pattern):
            raise self.fail("unbalanced parenthesis ')'")
        return node.text

    def alternation(self, top: bool = False) -> _Node:
        branches = [_literal(self.sequence(top))]
        while self.peek() == "|":
            self.at += 1
            branches.append(_literal(self.sequence(top)))
        if len(branches) == 1:
            return branches[0]
        text = "(" + " | ".join(branch.text for branch in branches) + ")"
        return _Node(text, any(branch.nullable for branch in branches))

    def sequence(self, top: bool) -> _Node:
        nodes: list[_Node] = []
        while self.peek() and self.peek() not in "|)":
            if top and self.peek() == "$" and self.at == len(self.pattern) - 1:
                self.at += 1  # the trailing $ of the implied full match
                break
            nodes.append(self.quantified())
        if len(nodes) == 1:
            return nodes[0]
        parts: list[str] = []
        run = ""
        for node in nodes:
            if node.char is not None:
                run += _literal_char(node.char)
                continue
            if run:
                parts.append(f'"{run}"')
                run = ""
            parts.append(node.text)
        if run:
            parts.append(f'"{run}"')
        if not parts:
            return _EMPTY
        nullable = all(node.nullable for node in nodes)
        if len(parts) == 1:  # one run of literal characters: a postfix would take the last
            return _Node(parts[0], nullable, atomic=False)  # in regexes, so keep it grouped
        return _Node("(" + " ".join(parts) + ")", nullable)

    def repetition(self) -> tuple[int, int | None] | None:
        """The quantifier at the position, consumed, as (min, max or None); None if none."""
        char = self.peek()
        if char in ("*", "+", "?"):
            self.at += 1
            return {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
        match = _QUANTIFIER.match(self.pattern, self.at) if char == "{" else None
        if match is None or match.group(0) == "{}":  # Python reads "{}" as text
            return None
        self.at = match.end()
        low = int(match.group(1) or 0)
        if match.group(2) is None:
            return low, low
        high = int(match.group(3)) if match.group(3) else None
        if high is not None and high < low:
            raise self.fail(f"the repetition {match.group(0)} has min > max")
        return low, high

    def quantified(self) -> _Node:
        start = self.at
        node = self.atom()
        bounds = self.repetition()
        if bounds is None:
            return node
        if self.peek() == "?":
            raise self.fail("lazy quantifiers (*?, +?, ??, {m,n}?) are not supported")
        if self.peek() == "+":
            raise self.fail("possessive quantifiers (*+, ++, ?+) are not supported")
        low, high = bounds
        if node.nullable and high is None:
            raise self.fail(
                f"repeating {self.pattern[start : self.at]!r}, whose operand can match the empty "
                "string, is not supported (llama.cpp refuses some such grammars as left "
                "recursion; write the repeated part so that it always takes a character)"
            )
        if high == 0:
            return _EMPTY
        if low == high == 1:
            return node
        operand = _literal(node)
        text = operand.text if operand.atomic else f"({operand.text})"
        suffix = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((low, high))
        if suffix is None:
            suffix = f"{{{low}}}" if low == high else f"{{{low},{'' if high is None else high}}}"
        return _Node(text + suffix, node.nullable or low == 0, atomic=False)

    def atom(self) -> _Node:
        char = self.peek()
        if char == "(":
            return self.group()
        if char == "[":
            return self.character_class()
        if char == ".":
            self.at += 1
            return _Node("[^\\x0A]", False)
        if char == "\\":
            return self.escape()
        if char in ("*", "+", "?"):
            raise self.fail(f"nothing to repeat before {char!r}")
        if char in ("^", "$"):
            raise self.fail(
                f"the anchor {char!r} is supported only at the very start (^) or end ($), "
                "where it restates the implied full match"
            )
        self.at += 1
        return _Node("", False, char=char)

    def group(self) -> _Node:
        self.at += 1  # "("
        if self.peek() == "?":
            head = self.pattern[self.at : self.at + 4]
            if head.startswith("?:"):
                self.at += 2
            elif head.startswith(("?=", "?!", "?<=", "?<!")):
                raise self.fail(
                    "lookarounds ((?=...), (?!...), (?<=...), (?<!...)) are not supported"
                )
            elif head.startswith(("?P=", "?(")):
                raise self.fail("backreferences are not supported")
            elif head.startswith(("?P<", "?<")):
                raise self.fail("named groups are not supported; use (...) or (?:...)")
            else:
                raise self.fail("inline flags and other (?...) groups are not supported")
        node = self.alternation()
        if self.take() != ")":
            raise self.fail("missing ')'")
        return node

    def escape(self) -> _Node:
        self.at += 1  # the backslash
        char = self.take()
        if char.lower() in _SHORTHANDS:
            negated = "^" if char.isupper() else ""
            return _Node(f"[{negated}{_SHORTHANDS[char.lower()]}]", False)
        return _Node("", False, char=self.escaped_char(char, in_class=False))

    def escaped_char(self, char: str, *, in_class: bool) -> str:
        """The character that an escape stands for (``char``: the one after the backslash)."""
        if char == "0" and self.peek().isdigit():
            raise self.fail("octal escapes are not supported; use \\xhh")
        if char in _CHAR_ESCAPES:
            return _CHAR_ESCAPES[char]
        if char == "b" and in_class:
            return "\b"
        if char in _HEX_ESCAPES:
            digits = self.pattern[self.at : self.at + _HEX_ESCAPES[char]]
            self.at += len(digits)  # re.compile checked that they are hex digits
            return chr(int(digits, 16))
        if char.isdigit():
            raise self.fail("backreferences (\\1, \\2, ...) are not supported")
        if char in "bBAZz":
            raise self.fail(f"the anchor \\{char} is not supported: the whole answer matches")
        if char.isalnum() or char == "_":
            raise self.fail(f"the escape \\{char} is not supported")
        return char

    def class_char(self) -> tuple[str, bool]:
        """(GBNF text of one class member, whether it is a shorthand), consumed."""
        char = self.take()
        if char != "\\":
            if char == "[" and self.peek() == ":":
                raise self.fail("POSIX classes ([:alpha:]) are not supported")
            return char, False
        escape = self.take()
        if escape.lower() in _SHORTHANDS:
            if escape.isupper():
                raise self.fail(f"\\{escape} inside a character class is not supported")
            return _SHORTHANDS[escape], True
        return self.escaped_char(escape, in_class=True), False

    def character_class(self) -> _Node:
        self.at += 1  # "["
        negated = self.peek() == "^"
        if negated:
            self.at += 1
        items: list[str] = []
        while not (self.peek() == "]" and items):
            if self.peek() == "":
                raise self.fail("missing ']'")
            first, shorthand = self.class_char()
            if shorthand:
                items.append(first)
            elif self.peek() == "-" and self.peek(1) not in ("]", ""):
                self.at += 1
                last, shorthand = self.class_char()
                if shorthand:
                    raise self.fail("a range cannot end with a class shorthand")
                items.append(f"{_class_char(first)}-{_class_char(last)}")
            else:
                items.append(_class_char(first))
        self.at += 1  # "]"
        return _Node(f"[{'^' if negated else ''}{''.join(items)}]", False)


def regex_to_gbnf(pattern: str) -> str:
    """The GBNF grammar (rule ``root``) whose language is the full matches of ``pattern``.

    Raises ValueError, with the reason and the position, outside the module's subset.
    """
    if not isinstance(pattern, str):
        raise ValueError("the regex must be a string")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"the regex does not compile: {exc}") from exc
    return f"root ::= {_Parser(pattern).whole()}\n"
