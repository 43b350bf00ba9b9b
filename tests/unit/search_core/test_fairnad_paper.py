"""FairNAD does what its paper describes: fair idea sampling among the ideas the active
generator can realise, Pareto-aware mutation over every success, and the feedback loop."""

import json
import random
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry
from scipy.stats import chi2, chisquare

from llm_gateway.prompts.library import PromptLibrary
from netapi.outcomes import Outcome
from search_core.config import SearchCoreSettings
from search_core.domain import CandidateRecord, EpochMetrics, Generator, ZooModel
from search_core.engine.feedback import with_hyperparameters_literal
from search_core.engine.proposals import Proposal, slot_rng
from search_core.engine.runner import SearchEngine
from search_core.knowledge.sampling import FairIdeaSampler
from search_core.knowledge.tree import KnowledgeTree
from search_core.methods.fairnad import FairNadMethod
from search_core.metrics import SearchMetrics
from search_core.search_config import parse_config
from search_core.services import PromptRequest
from search_core.store import open_store
from search_core.template.genome import Genome, genome_to_dict
from search_core.template.operators import realisable, realisations
from tests.unit.search_core.engine.scripted import ScriptedServices, method_factory, model_code

DRAWS = 6000
P_MIN = 0.01  # a fair sampler fails one such test (at a fixed seed) with probability 0.01
TREE = KnowledgeTree.default()
PROMPTS = PromptLibrary.load()
TASK = {
    "task": "img-classification",
    "dataset": "fashion-mnist",
    "in_shape": [64, 1, 28, 28],
    "out_shape": [10],
}
# Ideas only: no Pareto-aware mutation, no refinement, so every later slot applies an idea.
IDEAS_ONLY = {"population_size": 2, "pareto_every": 0, "refine_every": 0}


def fairness_p_values(
    ideas: list[tuple[str, str]], allowed: dict[str, list[str]]
) -> tuple[float, float]:
    """p of the category counts against uniform over `allowed`'s categories, and p of the
    attribute counts against uniform within their category: one pooled test, the chi-square
    statistics and degrees of freedom of the categories add up."""
    by_category = Counter(category for category, _ in ideas)
    category_p = chisquare([by_category[c] for c in allowed]).pvalue
    statistic, dof = 0.0, 0
    for category, names in allowed.items():
        if len(names) > 1:
            counts = Counter(name for c, name in ideas if c == category)
            statistic += chisquare([counts[n] for n in names]).statistic
            dof += len(names) - 1
    return float(category_p), float(chi2.sf(statistic, dof))


def allowed_ideas(keep) -> dict[str, list[str]]:
    """The ideas of the tree `keep` accepts, by category; categories left empty dropped."""
    allowed = {c.name: [a.name for a in c.attributes if keep(a)] for c in TREE.categories}
    return {category: names for category, names in allowed.items() if names}


def assert_fair(ideas: list[tuple[str, str]], allowed: dict[str, list[str]]) -> None:
    drawn = {(c, a) for c, a in ideas}
    assert drawn <= {(c, a) for c, names in allowed.items() for a in names}
    category_p, within_p = fairness_p_values(ideas, allowed)
    assert category_p > P_MIN and within_p > P_MIN, (category_p, within_p)


def success(candidate_id: str, **fields) -> CandidateRecord:
    record = CandidateRecord(
        candidate_id=candidate_id,
        search_id="s",
        tenant_id="t",
        slot=0,
        outcome=Outcome.SUCCESS,
        score=0.6,
        parameter_count=50_000,
    )
    for name, value in fields.items():
        setattr(record, name, value)
    return record


def idea_proposals(method: FairNadMethod, config, history, count: int):
    first = config.fairnad.population_size
    return [
        method.propose(slot, slot_rng(config, slot), history)
        for slot in range(first, first + count)
    ]


# -- (I) fair idea sampling, per generator


def test_a_generator_that_realises_nothing_of_a_category_never_draws_it():
    allowed = allowed_ideas(realisable)
    assert len(allowed) == len(TREE.categories)  # the default tree: every category realisable
    sampler = FairIdeaSampler(TREE, random.Random(1), lambda a: a.name == "Mish")
    assert {sampler.sample().attribute.name for _ in range(50)} == {"Mish"}


def test_llm_ideas_are_fair_over_every_idea_of_the_tree():
    config = parse_config(
        {"method": "fairnad", "generator": "llm", "task": TASK, "fairnad": IDEAS_ONLY}
    )
    zoo = [ZooModel("VGG", "img-classification", model_code(16))]
    method = FairNadMethod(config, TREE, zoo)
    history = [success("parent", code=model_code(32), generator=Generator.LLM)]
    proposals = idea_proposals(method, config, history, DRAWS)
    assert {p.mutation for p in proposals} == {"fair_idea"}
    ideas = [(p.idea["category"], p.idea["attribute"]) for p in proposals]
    assert_fair(ideas, allowed_ideas(lambda attribute: True))


def test_template_ideas_are_fair_over_the_ideas_the_composer_realises():
    sampler = FairIdeaSampler(TREE, random.Random(11), realisable)
    ideas = [(c.name, a.name) for c, a in (sampler.sample() for _ in range(DRAWS))]
    assert_fair(ideas, allowed_ideas(realisable))


def test_template_ideas_for_one_parent_are_fair_over_those_that_change_it():
    parent = Genome()
    children = realisations(parent, (a for _, a in TREE.attributes()), random.Random(5))
    assert 0 < len(children) < sum(realisable(a) for _, a in TREE.attributes())
    sampler = FairIdeaSampler(TREE, random.Random(12), lambda a: a.name in children)
    ideas = [(c.name, a.name) for c, a in (sampler.sample() for _ in range(DRAWS))]
    assert_fair(ideas, allowed_ideas(lambda a: a.name in children))


def test_the_template_method_draws_only_ideas_that_change_the_parent_and_never_retries():
    config = parse_config(
        {"method": "fairnad", "generator": "template", "task": TASK, "fairnad": IDEAS_ONLY}
    )
    method = FairNadMethod(config, TREE, [])
    parent = Genome()
    history = [success("parent", genome=genome_to_dict(parent), generator=Generator.TEMPLATE)]
    proposals = idea_proposals(method, config, history, 300)
    assert {p.mutation for p in proposals} == {"fair_idea"}
    changing = realisations(parent, (a for _, a in TREE.attributes()), random.Random(0))
    assert {p.idea["attribute"] for p in proposals} <= set(changing)
    assert all(p.genome != genome_to_dict(parent) for p in proposals)
    categories = Counter(p.idea["category"] for p in proposals)
    assert chisquare(list(categories.values())).pvalue > P_MIN


# -- (II) Pareto-aware mutation


def trained(candidate_id: str, score: float, parameters: int, **fields) -> CandidateRecord:
    curve = [EpochMetrics(1, 1.5, score - 0.1, 900.0, 1200), EpochMetrics(2, 1.1, score)]
    return success(
        candidate_id,
        score=score,
        parameter_count=parameters,
        epochs=curve,
        scores={"validation": score, "accuracy": 0.987},  # the test figure: never in a prompt
        **fields,
    )


def front_history(**fields) -> list[CandidateRecord]:
    """Two large, accurate models (the population of two) and a small one outside it."""
    return [
        trained("large", 0.9, 1_000_000, **fields),
        trained("larger-but-worse", 0.85, 900_000, **fields),
        trained("small", 0.5, 10_000, **fields),
    ]


def pareto_proposals(generator: str, history, count=40):
    fairnad = {"population_size": 2, "pareto_every": 1, "seed_models": ["VGG"]}
    config = parse_config(
        {"method": "fairnad", "generator": generator, "task": TASK, "fairnad": fairnad}
    )
    zoo = [ZooModel("VGG", "img-classification", model_code(16))]
    return idea_proposals(FairNadMethod(config, TREE, zoo), config, history, count)


def test_the_front_spans_every_success_not_only_the_population():
    history = front_history(genome=genome_to_dict(Genome()), generator=Generator.TEMPLATE)
    proposals = pareto_proposals("template", history)
    grown = {p.parent for p in proposals if p.mutation == "scale_up"}
    assert "small" in grown  # on the front, though not among the two best
    assert {p.parent for p in proposals if p.mutation == "tune_hyperparameters"} == {"large"}


def test_the_llm_tunes_a_large_model_from_its_validation_curve_as_json():
    history = front_history(code=model_code(64), hyperparameters={"lr": 0.01})
    proposals = pareto_proposals("llm", history)
    tuned = [p for p in proposals if p.mutation == "tune_hyperparameters"]
    assert tuned and {p.parent for p in tuned} == {"large"}
    proposal = tuned[0]
    assert proposal.prompt is None and proposal.code == ""
    assert proposal.generator == Generator.TEMPLATE  # the code stays the parent's, ours
    prompt = proposal.tuning_prompt
    assert prompt.template == "fairnad_tune_hyperparameters"
    assert prompt.variables["code"] == proposal.parent_code == model_code(64)
    assert json.loads(prompt.variables["hyperparameters"]) == {"lr": 0.01}
    curve = json.loads(prompt.variables["learning_curves"])
    assert [(e["epoch"], e["train_loss"], e["validation"]) for e in curve] == [
        (1, 1.5, 0.8),
        (2, 1.1, 0.9),
    ]
    assert "0.987" not in json.dumps(prompt.variables)
    assert PROMPTS.get(prompt.template).render(prompt.variables)  # the gateway accepts it
    grown = [p for p in proposals if p.mutation == "scale_up"]
    assert {p.parent for p in grown} == {"small", "larger-but-worse"}
    assert {p.prompt.template for p in grown} == {"fairnad_scale_up_edit"}


PARENT = model_code(48)  # declares {'lr'}


class TuneMethod:
    """Every slot asks the LLM for new hyperparameters of PARENT, as FairNAD's (II) does."""

    def propose(self, slot, rng, history):
        variables = {"code": PARENT, "hyperparameters": '{"lr": 0.01}', "learning_curves": "[]"}
        return Proposal(
            prefix="FairNAD-Tuned",
            generator=Generator.TEMPLATE,
            tuning_prompt=PromptRequest("fairnad_tune_hyperparameters", variables),
            parent="parent",
            parent_code=PARENT,
            mutation="tune_hyperparameters",
        )


@pytest.fixture
def store(tmp_path):
    instance = open_store(str(tmp_path / "store.db"))
    yield instance
    instance.close()


async def tune_once(store, answer: str) -> tuple[CandidateRecord, ScriptedServices]:
    services = ScriptedServices()
    services.answers = [answer]
    metrics = SearchMetrics(CollectorRegistry(), tenants=["acme"], models=[], prompt_variants=[])
    engine = SearchEngine(
        store,
        services,
        SearchCoreSettings(max_in_flight_per_search=1),
        method_factory(lambda config, tenant: TuneMethod()),
        metrics,
    )
    config = {"method": "fairnad", "generator": "llm", "max_candidates": 1}
    search = await engine.submit("acme", parse_config({**config, "training": {"epochs": 2}}))
    [event async for event in engine.watch("acme", search.search_id)]
    (candidate,) = store.search_candidates(search.search_id)
    return candidate, services


async def test_a_json_answer_tunes_the_parents_code(store):
    answer = json.dumps({"hyperparameters": {"lr": 0.05, "dropout": 0.3}, "rationale": "r"})
    candidate, services = await tune_once(store, answer)
    assert services.prompts[0].template == "fairnad_tune_hyperparameters"
    assert candidate.outcome is Outcome.SUCCESS and candidate.score == 0.5
    assert candidate.hyperparameters == {"lr": 0.05}  # dropout is not declared: dropped
    assert candidate.code == with_hyperparameters_literal(PARENT, {"lr": 0.05})
    assert candidate.generator == Generator.TEMPLATE and candidate.parent == "parent"
    assert candidate.llm_usage["calls"] == 1 and candidate.model
    assert services.calls == {"generate": 1, "check": 1, "train": 1}


@pytest.mark.parametrize(
    ("answer", "outcome", "message"),
    [
        ("", Outcome.NO_CODE, "no_code"),
        ("{'lr': 0.1,}", Outcome.SYNTAX_ERROR, "not JSON"),
        ('{"lr": 0.1}', Outcome.API_NONCOMPLIANCE, 'no "hyperparameters" object'),
        ('{"hyperparameters": {"lr": 3}}', Outcome.API_NONCOMPLIANCE, "no value in [0, 1] for lr"),
        ('{"hyperparameters": {"lr": 0.01}}', Outcome.DUPLICATE, "keeps every hyperparameter"),
    ],
)
async def test_an_answer_that_tunes_nothing_ends_the_candidate_clearly(
    store, answer, outcome, message
):
    candidate, services = await tune_once(store, answer)
    assert candidate.outcome is outcome and message in candidate.error_message
    assert services.calls["train"] == 0


# -- (III) refinement with the feedback loop


def test_refinement_sees_curves_deltas_and_training_failures_never_a_test_figure():
    parent = trained("p", 0.5, 40_000, code=model_code(8), generator=Generator.LLM)
    best = trained("b", 0.55, 50_000, code=model_code(9), generator=Generator.LLM, parent="p")
    diverged = success(
        "d",
        outcome=Outcome.TRAINING_FAILURE,
        score=None,
        stage="train",
        error_message="the loss is nan at epoch 2",
        epochs=[EpochMetrics(1, 2.0, 0.2), EpochMetrics(2, float("nan"), 0.1)],
        generator=Generator.LLM,
        parent="p",
    )
    fairnad = {"population_size": 2, "pareto_every": 0, "refine_every": 1, "seed_models": ["VGG"]}
    config = parse_config(
        {"method": "fairnad", "generator": "llm", "task": TASK, "fairnad": fairnad}
    )
    zoo = [ZooModel("VGG", "img-classification", model_code(16))]
    method = FairNadMethod(config, TREE, zoo)
    (proposal,) = idea_proposals(method, config, [parent, best, diverged], 1)
    assert proposal.mutation == "refine" and proposal.parent == "b"
    variables = proposal.prompt.variables
    assert variables["delta"] == "+0.0500 validation score against its parent, +25% parameters"
    assert "b: passed, validation 0.550 (+0.050 vs parent)" in variables["feedback"]
    assert "d: training_failure in training: the loss is nan at epoch 2" in variables["feedback"]
    curves = json.loads(variables["learning_curves"])
    assert [e["validation"] for e in curves["b"]] == [0.45, 0.55]
    assert [e["validation"] for e in curves["p"]] == [0.4, 0.5]
    assert "training_failure in training" in variables["memory"]  # the edit prompt's memory
    assert "0.987" not in json.dumps(variables)
    assert PROMPTS.get(proposal.prompt.template).render(variables)  # the gateway accepts it
