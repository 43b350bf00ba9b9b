"""A finding about a candidate, and the verdict that a set of findings adds up to."""

from dataclasses import dataclass, field

from netapi.outcomes import Outcome, Stage, precedence

MAX_MESSAGE_CHARS = 400


def sanitise(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Printable, single-line, bounded text, safe to log and to show to any caller."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " "))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


@dataclass(frozen=True)
class Finding:
    """One problem: a stable rule id, the outcome it implies, where, and why."""

    rule: str
    outcome: Outcome
    message: str
    line: int = 0
    column: int = 0
    stage: Stage = Stage.STATIC
    subject: str = ""  # the name a finding is about (a module, a dotted name, a keyword)

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", sanitise(self.message))

    def to_dict(self) -> dict:
        fields = {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "stage": self.stage.value,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }
        return {**fields, "subject": self.subject} if self.subject else fields


@dataclass(frozen=True)
class Verdict:
    """The decisive outcome of a set of findings, with the findings most decisive first."""

    outcome: Outcome
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, findings: list[Finding]) -> "Verdict":
        ordered = sorted(findings, key=lambda f: (precedence(f.outcome), f.line, f.column, f.rule))
        outcome = ordered[0].outcome if ordered else Outcome.SUCCESS
        return cls(outcome, tuple(ordered))

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome.value,
            "findings": [finding.to_dict() for finding in self.findings],
        }
