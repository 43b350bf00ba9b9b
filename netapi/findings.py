"""A finding about a candidate, and the verdict that a set of findings adds up to.

An error decides the outcome; a warning (what LEMUR accepts but the Net API spells
otherwise: `self.criterion`, a declared hyperparameter never read) is recorded on the
candidate and shown, never an outcome.
"""

from dataclasses import dataclass, field
from enum import StrEnum

from netapi.outcomes import Outcome, Stage, precedence

MAX_MESSAGE_CHARS = 400


def sanitise(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Printable, single-line, bounded text, safe to log and to show to any caller."""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text.replace("\n", " "))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 3] + "..."


class Severity(StrEnum):
    """Whether a finding decides the outcome (an error) or is only recorded (a warning)."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem: a stable rule id, the outcome it implies, where, and why.

    A warning implies no failure: its outcome is SUCCESS (see `warning`).
    """

    rule: str
    outcome: Outcome
    message: str
    line: int = 0
    column: int = 0
    stage: Stage = Stage.STATIC
    subject: str = ""  # the name a finding is about (a module, a dotted name, a keyword)
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", sanitise(self.message))

    @property
    def is_warning(self) -> bool:
        return self.severity is Severity.WARNING

    def to_dict(self) -> dict:
        """The JSON form; a warning carries "severity": "warning" and no outcome."""
        fields = {
            "rule": self.rule,
            "outcome": self.outcome.value,
            "stage": self.stage.value,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }
        if self.is_warning:
            del fields["outcome"]
            fields["severity"] = self.severity.value
        return {**fields, "subject": self.subject} if self.subject else fields

    @classmethod
    def from_dict(cls, fields: dict) -> "Finding":
        """The inverse of to_dict (a stored finding or warning)."""
        severity = Severity(fields.get("severity", Severity.ERROR))
        outcome = Outcome.SUCCESS if severity is Severity.WARNING else Outcome(fields["outcome"])
        return cls(
            rule=str(fields.get("rule", "")),
            outcome=outcome,
            message=str(fields.get("message", "")),
            line=int(fields.get("line", 0) or 0),
            column=int(fields.get("column", 0) or 0),
            stage=Stage(fields.get("stage") or Stage.STATIC),
            subject=str(fields.get("subject", "")),
            severity=severity,
        )


def warning(
    rule: str, message: str, line: int = 0, column: int = 0, stage: Stage = Stage.STATIC
) -> Finding:
    """A finding that is recorded and shown but never decides the outcome."""
    return Finding(rule, Outcome.SUCCESS, message, line, column, stage, severity=Severity.WARNING)


@dataclass(frozen=True)
class Verdict:
    """The decisive outcome of a set of findings: the errors, most decisive first, and apart
    from them the warnings, in source order, which never change the outcome."""

    outcome: Outcome
    findings: tuple[Finding, ...] = field(default_factory=tuple)
    warnings: tuple[Finding, ...] = field(default_factory=tuple)

    @classmethod
    def of(cls, findings: list[Finding]) -> "Verdict":
        errors = sorted(
            (f for f in findings if not f.is_warning),
            key=lambda f: (precedence(f.outcome), f.line, f.column, f.rule),
        )
        warnings = sorted(
            (f for f in findings if f.is_warning), key=lambda f: (f.line, f.column, f.rule)
        )
        outcome = errors[0].outcome if errors else Outcome.SUCCESS
        return cls(outcome, tuple(errors), tuple(warnings))

    def to_dict(self) -> dict:
        return {
            "outcome": self.outcome.value,
            "findings": [finding.to_dict() for finding in self.findings],
            "warnings": [finding.to_dict() for finding in self.warnings],
        }
