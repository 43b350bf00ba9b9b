"""Shaping an answer: merged into the module it changes, then fixed, every step recorded."""

from search_core.generation.shaping import idea_applied, shape_answer
from search_core.zoo.registry import builtin_models

VGG = next(m.code for m in builtin_models() if m.name == "VGG")
EDIT = """class Net(nn.Module):
    def forward(self, x):
        x = self.avgpool(self.features(x))
        return F.log_softmax(self.classifier(torch.flatten(x, 1)), dim=1)
"""


def test_an_edit_is_merged_then_fixed():
    shaped = shape_answer(EDIT, merge_into=VGG, parent=VGG, fix=True)
    assert "def train_setup" in shaped.code and "F.log_softmax" in shaped.code
    assert shaped.merge["replaced"] == ["Net.forward"]
    assert [fix["rule"] for fix in shaped.fixes] == ["missing-import"]


def test_whole_mode_and_no_fixes_use_the_answer_as_written():
    shaped = shape_answer(EDIT, merge_into="", parent=VGG, fix=False)
    assert shaped.code == EDIT and shaped.merge == {} and shaped.fixes == ()


def test_a_module_to_repair_that_does_not_parse_takes_the_answer_as_written():
    broken = 'class Net(nn.Module):\n    """never closed\n'
    shaped = shape_answer(EDIT, merge_into=broken, parent=broken, fix=False)
    assert shaped.code == EDIT and shaped.merge == {}


def test_an_idea_is_not_applied_when_a_parameter_it_added_gets_no_gradient():
    assert idea_applied([], [])
    assert idea_applied(["old.weight"], ["old.weight"])
    assert not idea_applied(["se.fc.weight", "old.weight"], ["old.weight"])
