"""A search's configuration: what the CLI reads from a TOML/YAML/JSON file and the API's SearchSpec.

One pydantic model validates both; errors name the field that is wrong.
"""

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from netapi.tasks import TASKS, TaskSpec, TaskSpecError, resolve_input, validate
from search_core.domain import Generator, Method, default_generator

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class SearchConfigError(ValueError):
    """A configuration that cannot describe a search; the message says which field and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskConfig(_Strict):
    """The task every candidate is built for (a netapi TaskSpec).

    Checks and training see the same images: ``transform`` (LEMUR's name, e.g. norm_64,
    norm_256_flip) decides the side, so ``in_shape`` follows it unless given, and a given one
    must agree. Unset, the transform is the task's default (norm_32 for classification); with
    only ``in_shape`` given it is ``norm``, which keeps the dataset's own size
    (netapi.tasks.resolve_input). The resolved values are saved with the search.
    """

    task: Literal["img-classification", "img-captioning"] = "img-classification"
    dataset: str = "fashion-mnist"
    in_shape: tuple[int, int, int, int] = (64, 1, 28, 28)  # batch, channels; side: transform
    out_shape: tuple[int] = (10,)
    transform: str = ""

    @model_validator(mode="before")
    @classmethod
    def _input_follows_transform(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        task = data.get("task", cls.model_fields["task"].default)
        transform = data.get("transform", "")
        in_shape = data.get("in_shape")
        if task not in TASKS or not isinstance(transform, str):
            return data  # the fields' own validation names what is wrong
        if in_shape is not None and not _four_ints(in_shape):
            return data
        try:
            transform, resolved = resolve_input(
                task,
                transform,
                None if in_shape is None else tuple(in_shape),
                cls.model_fields["in_shape"].default,
            )
        except TaskSpecError as exc:
            raise ValueError(str(exc)) from exc
        return {**data, "transform": transform, "in_shape": resolved}

    def spec(self, hyperparameters: dict[str, float] | None = None) -> TaskSpec:
        try:
            return validate(
                TaskSpec(
                    self.task,
                    self.dataset,
                    tuple(self.in_shape),
                    tuple(self.out_shape),
                    dict(hyperparameters or {}),
                    self.transform,
                )
            )
        except TaskSpecError as exc:
            raise SearchConfigError(f"task: {exc}") from exc

    def check_spec(self, hyperparameters: dict[str, float] | None = None) -> TaskSpec:
        """The spec of a sandbox check: the same task with a batch of 2."""
        spec = self.spec(hyperparameters)
        return validate(
            TaskSpec(
                spec.task,
                spec.dataset,
                (2, *spec.in_shape[1:]),
                spec.out_shape,
                spec.hyperparameters,
                spec.transform,
            )
        )


def _four_ints(value: Any) -> bool:
    return (
        isinstance(value, list | tuple)
        and len(value) == 4
        and all(isinstance(dim, int) and not isinstance(dim, bool) for dim in value)
    )


class NnCaptionConfig(_Strict):
    snippets_per_prompt: Literal[5, 10] = 5
    baseline: str = ""  # zoo name; empty takes the captioning baselines in turn
    alternate_k: bool = False  # alternate k = 5 and k = 10 between candidates
    # The first slots train each captioning baseline the prompts compose from, unchanged (one
    # slot each, counted in max_candidates), with the training every candidate gets: the
    # campaign's own baseline figures, measured under the same budget. Off: every slot asks
    # the LLM, and the report has no baseline figure of its own to compare with.
    train_baselines: bool = True


class FairNadConfig(_Strict):
    population_size: int = Field(8, ge=2, le=500)
    knowledge_tree: str = ""  # stored tree name; empty uses the shipped default
    seed_models: list[str] = Field(default_factory=list)  # zoo names; empty: template seeds
    refine_every: int = Field(5, ge=0, le=100)  # LLM refinement every n-th slot; 0 never
    pareto_every: int = Field(3, ge=0, le=100)  # Pareto-aware mutation every n-th slot; 0 never


class ReferenceConfig(_Strict):
    # Zoo names of the hand-written models to train; empty: every one of the task.
    models: list[str] = Field(default_factory=list)


class ReproduceConfig(_Strict):
    # The candidate of the same tenant whose stored code is retrained (methods/reproduce.py).
    candidate_id: str = Field("", max_length=200)


class EvolutionConfig(_Strict):
    population_size: int = Field(8, ge=2, le=500)
    sample_size: int = Field(3, ge=1, le=100)


class TrainingConfig(_Strict):
    epochs: int = Field(1, ge=0, le=200)  # 0: check only, no training
    # Bounded by the wire: SearchSpec carries train_samples as an int32.
    train_samples: int = Field(2000, ge=1, le=INT32_MAX)
    validation_samples: int = Field(500, ge=1, le=INT32_MAX)
    test_samples: int = Field(500, ge=1, le=INT32_MAX)
    epoch_time_budget_ms: int = Field(300_000, ge=1000)
    job_time_budget_ms: int = Field(1_800_000, ge=1000)


class GenerationConfig(_Strict):
    """How an LLM answer becomes a candidate (search_core.generation); each lever can be
    turned off, which is how bench.search_repair measures what it is worth."""

    # "edit": the prompt shows the parent and asks only for what changes, merged into the
    # parent at the AST level; "whole": the model writes the whole module.
    mode: Literal["edit", "whole"] = "edit"
    fixes: bool = True  # deterministic fixes before the sandbox, recorded on the candidate
    memory_window: int = Field(6, ge=0, le=50)  # (problem, change, outcome) triples per prompt
    memory_chars: int = Field(2400, ge=200, le=6000)
    # A candidate whose MinHash Jaccard similarity to its parent, a prompt example or one of
    # the tenant's earlier candidates reaches this is a near copy (duplicate); 1.0 turns the
    # check off, leaving the exact hashes.
    near_copy_threshold: float = Field(0.9, gt=0.0, le=1.0)
    # A repair answer that returns the code unchanged is discarded and asked again, up to this
    # many times per round, with another seed and a higher temperature.
    unchanged_retries: int = Field(2, ge=0, le=4)


class SearchConfig(_Strict):
    """Everything a search needs; saved with the search so that it resumes identically."""

    name: str = ""
    method: Method = Method.FAIRNAD
    generator: Generator  # unset: default_generator(method)
    task: TaskConfig = Field(default_factory=TaskConfig)
    max_candidates: int = Field(20, ge=1, le=10_000)
    model: str = ""  # gateway model name; empty uses the gateway's default
    prompt_variant: str = "v1"
    repair_attempts: int = Field(2, ge=0, le=4)
    samples_per_step: int = Field(1, ge=1, le=8)  # LLM answers per generation or repair step
    # What a repair prompt carries: "full" = the failing submodule with its shapes, the line
    # and the findings; "last_line" = the last line of the error only (the naive baseline).
    repair_feedback: Literal["full", "last_line"] = "full"
    repair_shape_trace: bool = True  # add the shape trace of the last check to repair prompts
    max_new_tokens: int = Field(1536, ge=64, le=16_384)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    seed: int = Field(0, ge=0, le=INT64_MAX)  # SearchSpec.seed is an int64
    # A candidate with more parameters is refused as too_large by its check, whose message
    # names this budget; raise it for large models (LEMUR's VGG has 129M at 32x32).
    parameter_budget: int = Field(5_000_000, ge=1000)
    # Whose earlier code makes a candidate a duplicate: the tenant's (no model is trained
    # twice) or this search's only (comparisons: each method and seed runs on its own).
    duplicate_scope: Literal["tenant", "search"] = "tenant"
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    nn_caption: NnCaptionConfig = Field(default_factory=NnCaptionConfig)
    fairnad: FairNadConfig = Field(default_factory=FairNadConfig)
    evolution: EvolutionConfig = Field(default_factory=EvolutionConfig)
    reference: ReferenceConfig = Field(default_factory=ReferenceConfig)
    reproduce: ReproduceConfig = Field(default_factory=ReproduceConfig)
    generation: GenerationConfig = Field(default_factory=GenerationConfig)

    @field_validator("name")
    @classmethod
    def _short_name(cls, value: str) -> str:
        if len(value) > 200:
            raise ValueError("at most 200 characters")
        return value

    @model_validator(mode="before")
    @classmethod
    def _method_default_generator(cls, data: Any) -> Any:
        if isinstance(data, dict) and "generator" not in data:
            try:
                method = Method(data.get("method", Method.FAIRNAD))
            except ValueError:
                return data  # the field's own validation names the bad method
            return {**data, "generator": default_generator(method).value}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> "SearchConfig":
        if self.method == Method.NN_CAPTION:
            if self.task.task != "img-captioning":
                raise ValueError("method nn_caption needs task img-captioning")
            if self.generator != Generator.LLM:
                raise ValueError("method nn_caption composes with the LLM: generator must be llm")
        elif self.task.task != "img-classification" and self.method not in (
            Method.REFERENCE,
            Method.REPRODUCE,
        ):
            # The yardstick and a reproduction train given models of either task.
            raise ValueError(f"method {self.method.value} searches img-classification models")
        if self.method in (Method.RANDOM, Method.REGULARIZED_EVOLUTION, Method.REFERENCE):
            if self.generator != Generator.TEMPLATE:
                raise ValueError(f"the {self.method.value} baseline uses the template generator")
        if self.method == Method.REPRODUCE:
            _check_reproduction(self)
        self.task.spec()
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def _check_reproduction(config: SearchConfig) -> None:
    """A reproduction trains one stored candidate's code as it is: nothing generated."""
    if not config.reproduce.candidate_id:
        raise ValueError("method reproduce needs reproduce.candidate_id")
    if config.generator != Generator.TEMPLATE or config.max_candidates != 1:
        raise ValueError("method reproduce trains one stored code: generator template, 1 candidate")
    if config.repair_attempts != 0:
        raise ValueError("method reproduce repairs nothing: repair_attempts must be 0")


def parse_config(data: dict[str, Any]) -> SearchConfig:
    """Validate a config dict; SearchConfigError names every wrong field."""
    try:
        return SearchConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors()
        )
        raise SearchConfigError(problems) from exc


def load_config(path: Path) -> SearchConfig:
    """Read a search config from a .toml, .yaml/.yml or .json file."""
    return parse_config(read_config_file(path))


def read_config_file(path: Path) -> dict[str, Any]:
    """A .toml, .yaml/.yml or .json config file's settings as written (no defaults added)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SearchConfigError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            raise SearchConfigError(f"{path}: expected a .toml, .yaml or .json file")
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise SearchConfigError(f"{path} is not valid {path.suffix[1:]}: {exc}") from exc
    if not isinstance(data, dict):
        raise SearchConfigError(f"{path}: the top level must be a table of settings")
    return data
