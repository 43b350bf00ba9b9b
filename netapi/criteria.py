"""The losses a Net sets in train_setup, as LEMUR accepts them: the rule in one place.

The Net API names them `self.criteria`, a tuple of losses; LEMUR also trains a model whose
`criteria` is one loss, or whose losses are in `self.criterion` (several of its captioners).
Both are accepted: one loss counts as a one-element tuple, and `criterion` is used as the
criteria with a warning. Read here without torch: the static checker imports this too.
"""

from collections.abc import Callable

CRITERIA = "criteria"
CRITERION = "criterion"  # LEMUR's other spelling: accepted, with a warning

CRITERION_RULE = "criterion-for-criteria"
CRITERION_MESSAGE = (
    "the Net API names it criteria; criterion was used (accepted as LEMUR does, "
    "but write self.criteria)"
)

MISSING_CRITERIA_MESSAGE = "train_setup() must set self.criteria to a loss or a tuple of losses"


def criteria_attribute(model: object) -> str | None:
    """The attribute that holds the model's losses: criteria, else criterion; None if neither."""
    for name in (CRITERIA, CRITERION):
        if getattr(model, name, None) is not None:
            return name
    return None


def as_losses(value: object) -> tuple:
    """The losses of a criteria value: a tuple or list as it is, one loss as a 1-tuple."""
    if value is None:
        return ()
    return tuple(value) if isinstance(value, tuple | list) else (value,)


def criteria_of(model: object) -> tuple:
    """The model's losses as a tuple, empty when it set none."""
    name = criteria_attribute(model)
    return as_losses(getattr(model, name)) if name else ()


def replace_first_loss(model: object, loss: Callable) -> None:
    """Put `loss` in place of the model's first loss, keeping the shape the model set (one
    loss, a tuple or a list) and the attribute it used, so its learn() still finds it."""
    name = criteria_attribute(model)
    if name is None:
        raise ValueError("the model sets no criteria")
    value = getattr(model, name)
    if isinstance(value, list):
        setattr(model, name, [loss, *value[1:]])
    elif isinstance(value, tuple):
        setattr(model, name, (loss, *value[1:]))
    else:
        setattr(model, name, loss)
