"""The closed set of candidate outcomes and pipeline stages, and which outcome wins."""

from enum import StrEnum


class Outcome(StrEnum):
    """How a candidate ended; the value is the lower-case spelling used in JSON and metrics."""

    SUCCESS = "success"
    NO_CODE = "no_code"
    CANCELLED = "cancelled"
    SYNTAX_ERROR = "syntax_error"
    TRUNCATED = "truncated"
    HALLUCINATED_API = "hallucinated_api"
    API_NONCOMPLIANCE = "api_noncompliance"
    SHAPE_MISMATCH = "shape_mismatch"
    FORBIDDEN_CODE = "forbidden_code"
    TOO_LARGE = "too_large"
    RUNTIME_ERROR = "runtime_error"
    TIMEOUT = "timeout"
    OOM = "oom"
    TRAINING_FAILURE = "training_failure"
    DUPLICATE = "duplicate"
    INFRA_ERROR = "infra_error"
    # The prompt does not fit the model's context: an attempt of the method that failed
    # (a design like NN-Caption's k=10 on a small-context model), not our side breaking.
    PROMPT_TOO_LONG = "prompt_too_long"

    @property
    def proto_name(self) -> str:
        """The name of the matching nasforge.common.v1.Outcome enum value."""
        return f"OUTCOME_{self.name}"


class Stage(StrEnum):
    """Pipeline stages in order; the first failing stage decides the outcome."""

    EXTRACT = "extract"
    STATIC = "static"
    IMPORT = "import"
    API = "api"
    INSTANTIATE = "instantiate"
    FORWARD = "forward"
    LEARN = "learn"
    TRAIN = "train"

    @property
    def proto_name(self) -> str:
        return f"STAGE_{self.name}"


# Within one stage, when several findings disagree, the most decisive outcome wins:
# code that cannot be read at all, then code that must not run, then names that do not
# exist, then contract breaches, then shapes.
STATIC_PRECEDENCE: tuple[Outcome, ...] = (
    Outcome.NO_CODE,
    Outcome.TRUNCATED,
    Outcome.SYNTAX_ERROR,
    Outcome.FORBIDDEN_CODE,
    Outcome.HALLUCINATED_API,
    Outcome.API_NONCOMPLIANCE,
    Outcome.SHAPE_MISMATCH,
)


def precedence(outcome: Outcome) -> int:
    """Sort key: smaller wins."""
    try:
        return STATIC_PRECEDENCE.index(outcome)
    except ValueError:
        return len(STATIC_PRECEDENCE)


# The largest candidate source nasforge accepts anywhere (LEMUR models are under 50 KB).
MAX_CANDIDATE_BYTES = 256 * 1024
