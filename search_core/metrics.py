"""Prometheus metrics of search_core, in one class that takes a registry.

search_core alone counts nasforge_candidates_total; its sum over outcome is every
attempt. Tenant, model and prompt-variant labels are bounded by configured lists;
anything else is counted as "other".
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from netapi.outcomes import Outcome
from search_core.domain import CandidateRecord, Generator, Method, SearchState
from search_core.generation.fixes import FIX_RULES

OTHER = "other"
TEMPLATE_MODEL = "template"
STAGES = ("generate", "check", "train")
SERVICES = ("llm_gateway", "sandbox_runner", "trainer_svc")
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 40, 80, 160, 320, 640, 1280)


class SearchMetrics:
    """The engine's SearchObserver (search_core.engine.observer), as Prometheus series."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        tenants: list[str],
        models: list[str],
        prompt_variants: list[str],
    ) -> None:
        self._tenants = frozenset(tenants)
        self._models = frozenset(models)
        self._variants = frozenset(prompt_variants)
        self._best: dict[tuple[str, str], float] = {}
        self.candidates = Counter(
            "nasforge_candidates_total",
            "Candidates that reached their final outcome; the sum over outcome is all attempts.",
            ["outcome", "method", "generator", "model", "prompt_variant", "tenant"],
            registry=registry,
        )
        self.repairs = Counter(
            "nasforge_candidate_repairs_total",
            "Repair rounds, by the final outcome of the candidate they were for.",
            ["outcome"],
            registry=registry,
        )
        self.stage_seconds = Histogram(
            "nasforge_search_stage_duration_seconds",
            "Time of one dependency call of a stage, waiting for its bound included.",
            ["stage"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.dependency_pauses = Counter(
            "nasforge_search_dependency_pauses_total",
            "Times a search paused because a dependency was down or overloaded.",
            ["service"],
            registry=registry,
        )
        self.searches = Gauge(
            "nasforge_searches",
            "Searches known to this process, by state.",
            ["state"],
            registry=registry,
        )
        self.best_score = Gauge(
            "nasforge_search_best_score",
            "Best score reached so far by the tenant's searches of a method.",
            ["method", "tenant"],
            registry=registry,
        )
        self.idea_application = Counter(
            "nasforge_candidate_idea_application_total",
            "LLM candidates that passed the check, by whether their idea is on the path from "
            "input to loss (applied) or a parameter they added got no gradient (not_applied).",
            ["applied", "model", "tenant"],
            registry=registry,
        )
        self.fixes = Counter(
            "nasforge_candidate_fixes_total",
            "Deterministic fixes applied to LLM answers before the check, by rule.",
            ["rule"],
            registry=registry,
        )
        for rule in FIX_RULES:
            self.fixes.labels(rule)
        for outcome in Outcome:
            self.repairs.labels(outcome.value)
        for stage in STAGES:
            self.stage_seconds.labels(stage)
        for service in SERVICES:
            self.dependency_pauses.labels(service)
        for state in SearchState:
            self.searches.labels(state.value)
        # Every bounded label combination starts at zero, so that rate() sees a series's first
        # candidate too (a series created by its first increment loses that count).
        llm_models = [*sorted(self._models), OTHER]
        for tenant in [*sorted(self._tenants), OTHER]:
            for model in llm_models:
                for applied in ("applied", "not_applied"):
                    self.idea_application.labels(applied, model, tenant)
            for method in Method:
                for generator in Generator:
                    models = [TEMPLATE_MODEL] if generator == Generator.TEMPLATE else llm_models
                    for model in models:
                        for variant in [*sorted(self._variants), OTHER]:
                            for outcome in Outcome:
                                self.candidates.labels(
                                    outcome.value,
                                    method.value,
                                    generator.value,
                                    model,
                                    variant,
                                    tenant,
                                )

    def _bounded(self, value: str, allowed: frozenset[str]) -> str:
        return value if value in allowed else OTHER

    def candidate_finished(self, candidate: CandidateRecord, method: Method, variant: str) -> None:
        model = (
            TEMPLATE_MODEL
            if candidate.generator == Generator.TEMPLATE
            else self._bounded(candidate.model, self._models)
        )
        tenant = self._bounded(candidate.tenant_id, self._tenants)
        outcome = (candidate.outcome or Outcome.INFRA_ERROR).value
        self.candidates.labels(
            outcome,
            method.value,
            candidate.generator.value,
            model,
            self._bounded(variant, self._variants),
            tenant,
        ).inc()
        if candidate.repair_attempts:
            self.repairs.labels(outcome).inc(candidate.repair_attempts)
        if candidate.idea_applied is not None:
            applied = "applied" if candidate.idea_applied else "not_applied"
            self.idea_application.labels(applied, model, tenant).inc()
        for fix in candidate.fixes:
            if fix.get("rule") in FIX_RULES:
                self.fixes.labels(fix["rule"]).inc()
        key = (method.value, tenant)
        if candidate.score is not None and candidate.score > self._best.get(key, float("-inf")):
            self._best[key] = candidate.score
            self.best_score.labels(*key).set(candidate.score)

    def stage_call(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)

    def paused(self, service: str) -> None:
        self.dependency_pauses.labels(self._bounded(service, frozenset(SERVICES))).inc()

    def search_states(self, counts: dict[SearchState, int]) -> None:
        for state in SearchState:
            self.searches.labels(state.value).set(counts.get(state, 0))
