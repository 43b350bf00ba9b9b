"""The Net API contract clause each static rule enforces, in one line a repair prompt can carry.

A small model that broke the contract repairs better when it is told the clause it broke than
when it sees only the finding; the clauses restate the prompt's contract, rule by rule.
"""

CLAUSES = {
    "missing-net-class": "The module defines `class Net(nn.Module)`.",
    "net-not-module": "`Net` subclasses `torch.nn.Module` (`class Net(nn.Module)`).",
    "missing-method": "`Net` defines `__init__`, `train_setup`, `learn` and `forward`.",
    "bad-signature": "`Net.__init__(self, in_shape, out_shape, prm, device)`, "
    "`train_setup(self, prm)`, `learn(self, train_data)`, `forward(self, x)` (captioning: "
    "`forward(self, images, captions=None)`).",
    "missing-criteria": "`train_setup` sets `self.criteria`, a tuple of loss modules, e.g. "
    "`self.criteria = (nn.CrossEntropyLoss(),)`.",
    "missing-optimizer": "`train_setup` sets `self.optimizer`, built from `self.parameters()`.",
    "missing-supported-hyperparameters": "A module-level function `supported_hyperparameters()` "
    "returns the set of hyperparameter names the model reads.",
    "undeclared-hyperparameter": "Every `prm[...]` key the model reads is in the set "
    "`supported_hyperparameters()` returns.",
    "unread-hyperparameter": "Every name `supported_hyperparameters()` returns is read from `prm`.",
    "reserved-hyperparameter": "'batch', 'transform' and 'epoch' come from the trainer: never "
    "declare them in `supported_hyperparameters()`.",
    "batch-as-channels": "`in_shape` is (B, C, H, W): the channels are `in_shape[1]`, never "
    "`in_shape[0]`.",
}


def clause_for(rule: str) -> str:
    """The clause `rule` enforces, or "" for a rule that is not part of the contract."""
    return CLAUSES.get(rule, "")
