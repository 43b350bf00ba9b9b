"""The deployed system, end to end: `make up` with two trainer replicas, a client that has only
the protos and a token, a service crash mid-search, a captioning model scored by the deployed
trainer, Prometheus against the store, every dashboard panel, and `make down` leaving nothing
behind.

The tests run in file order on one deployment (module fixture) and need the Docker engine
and the images (`make test` builds them first). Only loopback addresses: search_core and
Prometheus publish on 127.0.0.1.
"""

import hashlib
import itertools
import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import grpc
import pytest

from cli.secrets import read_tenant_token, tenant_token_path
from nasforge.client import ClientTLS, SearchClient
from search_core.report import escape
from tests.e2e.team_client import TeamClient, generate_stubs
from tests.support.promql import dashboard_queries, query, wait_for_data

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
SECRETS = REPO / "var" / "compose" / "secrets"
CA_FILE = REPO / "var" / "compose" / "certs" / "ca.crt"  # written by `make up`
TENANT = "e2e"
PUBLIC_PORT = 50061
PROMETHEUS_PORT = 9091
PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"
TRAINERS = 2
# A compose project of its own: a developer's `make up` deployment (project "nasforge") and
# its store are left alone, and every run starts from empty volumes (a store kept from an
# earlier run would resume that run's searches and add to the counters).
PROJECT = "nasforge-e2e"
PROJECT_LABEL = f"com.docker.compose.project={PROJECT}"
WRITTEN_MODEL = "qwen2.5-coder-0.5b"  # compose's default NASFORGE_LLM_MODEL
DASHBOARDS = REPO / "compose" / "grafana" / "dashboards"

ENV = {
    "COMPOSE_PROJECT_NAME": PROJECT,
    "NASFORGE_PUBLIC_PORT": str(PUBLIC_PORT),
    "NASFORGE_PROMETHEUS_PORT": str(PROMETHEUS_PORT),
    "NASFORGE_METRICS_TENANTS": json.dumps([TENANT]),
}

# A template search that trains (sandbox checks, training jobs on both trainer replicas)...
TRAINED = {
    "name": "e2e-random",
    "method": "random",
    "generator": "template",
    "max_candidates": 4,
    "task": {"dataset": "fashion-mnist", "in_shape": [32, 1, 28, 28], "out_shape": [10]},
    "training": {"epochs": 1, "train_samples": 512, "validation_samples": 64, "test_samples": 128},
}
# ...and one LLM-written candidate (the embedded model), checked but not trained.
WRITTEN = {
    "name": "e2e-fairnad-llm",
    "method": "fairnad",
    "generator": "llm",
    "max_candidates": 1,
    "repair_attempts": 0,
    "max_new_tokens": 512,
    "task": {"dataset": "fashion-mnist", "in_shape": [32, 1, 28, 28], "out_shape": [10]},
    "training": {"epochs": 0},
    "fairnad": {"seed_models": ["SqueezeNet"], "population_size": 2},
}
# ...and a captioning campaign: the zoo's ResNetLSTM trained unchanged on the built-in
# fashion-captions, then scored by the trainer with BLEU-4 both ways (nltk, and the COCO
# evaluator, whose PTB tokenizer is Java in the trainer image), plus one LLM composition.
CAPTIONED = {
    "name": "e2e-nn-caption",
    "method": "nn_caption",
    "generator": "llm",
    "max_candidates": 2,  # the baseline's slot and one LLM candidate (nn_caption needs one)
    "repair_attempts": 0,
    "max_new_tokens": 512,
    "task": {
        "task": "img-captioning",
        "dataset": "fashion-captions",
        "in_shape": [32, 3, 56, 56],
        "out_shape": [55],
    },
    "training": {"epochs": 1, "train_samples": 256, "validation_samples": 32, "test_samples": 64},
    "nn_caption": {"baseline": "ResNetLSTM"},
}
SEARCHES = {"trained": TRAINED, "written": WRITTEN, "captioned": CAPTIONED}
BLEU4_FIELDS = (
    "bleu4_sentence",  # nltk, LEMUR's way
    "bleu4_corpus",  # the COCO evaluator
    "bleu4_sentence_constant_baseline",
    "bleu4_constant_baseline",
)


def make(*targets: str, **env: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        ["make", "--no-print-directory", *targets],
        cwd=REPO,
        env={**os.environ, **ENV, **env},
        capture_output=True,
        text=True,
        timeout=1500,
    )
    output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    assert result.returncode == 0, f"make {' '.join(targets)}:\n{output}"
    return result


def docker(*args: str) -> str:
    return subprocess.run(
        ["docker", *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def containers_of(service: str) -> list[str]:
    return docker(
        "ps", "-q", "--filter", f"label={PROJECT_LABEL}",
        "--filter", f"label=com.docker.compose.service={service}",
    ).split()  # fmt: skip


def crash(container: str) -> None:
    """SIGKILL the service's process inside the container, as the OOM killer would (a
    `docker kill` counts as a deliberate stop and is not restarted)."""
    top = docker("top", container, "-eo", "pid,args").splitlines()[1:]
    pids = [line.split()[0] for line in top if "python3 -m" in line]
    assert pids, top
    # A short-lived child (a check's worker) may end between `top` and the kill: each pid is
    # killed on its own, and at least one (the service) must have been there to kill.
    killed = [pid for pid in pids if subprocess.run(["kill", "-9", pid]).returncode == 0]
    assert killed, f"none of {pids} was running any more"


def restart_count(container: str) -> int:
    return int(docker("inspect", "-f", "{{.RestartCount}}", container).strip())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    docker("compose", "-p", PROJECT, "-f", str(REPO / "compose/compose.yaml"), "down",
           "--volumes", "--remove-orphans")  # fmt: skip
    nasforge = str(REPO / ".venv" / "bin" / "nasforge")
    subprocess.run(
        [nasforge, "deploy", "secrets", "--tenant", "demo", "--tenant", TENANT],
        check=True, capture_output=True,
    )  # fmt: skip
    make("up", COMPOSE_ARGS=f"--scale trainer_svc={TRAINERS}")
    stubs = tmp_path_factory.mktemp("team-stubs")
    generate_stubs(stubs)
    client = TeamClient(
        stubs, f"127.0.0.1:{PUBLIC_PORT}", read_tenant_token(SECRETS, TENANT), CA_FILE
    )
    yield client
    client.close()
    make("down")


def watch_to_end(client: TeamClient, search_id: str, on_finished=None) -> list:
    """Follow a search's events to a final state, resuming after a broken stream."""
    events, sequence, deadline = [], 0, time.monotonic() + 1500
    while time.monotonic() < deadline:
        try:
            for event in client.watch(search_id, sequence):
                sequence = event.sequence
                events.append(event)
                if event.WhichOneof("event") == "candidate_finished" and on_finished:
                    on_finished(event)
                if event.WhichOneof("event") == "state_changed" and event.state_changed in (
                    client.pb.SEARCH_STATE_SUCCEEDED,
                    client.pb.SEARCH_STATE_FAILED,
                    client.pb.SEARCH_STATE_CANCELLED,
                ):
                    return events
        except grpc.RpcError:
            time.sleep(2)  # search_core restarting or the stream broken: resume where we were
    raise AssertionError(f"search {search_id} did not finish")


@pytest.fixture(scope="module")
def searches(deployment):
    """Every search, run to the end while sandbox_runner crashes after the first result."""
    client = deployment
    # Fresh seeds: the store outlives `make down`, and duplicates are judged per tenant.
    run = uuid.uuid4()
    trained = client.submit({**TRAINED, "seed": run.int % 10**6}, f"trained-{run}")
    written = client.submit({**WRITTEN, "seed": run.int % 10**6}, f"written-{run}")
    captioned = client.submit({**CAPTIONED, "seed": run.int % 10**6}, f"captioned-{run}")
    [sandbox] = containers_of("sandbox_runner")
    crashed = []

    def crash_sandbox_once(event):
        if not crashed:
            crash(sandbox)
            crashed.append(event.candidate_finished.candidate_id)

    watch_to_end(client, trained, crash_sandbox_once)
    watch_to_end(client, written)
    watch_to_end(client, captioned)
    assert crashed, "no candidate finished, so nothing was crashed"
    return {"trained": trained, "written": written, "captioned": captioned, "sandbox": sandbox}


def test_searches_finish_with_nothing_lost_after_a_crash(deployment, searches):
    client = deployment
    assert restart_count(searches["sandbox"]) >= 1, "sandbox_runner was not restarted"
    for key, config in SEARCHES.items():
        search = client.search(searches[key])
        assert client.state_name(search.state) == "SEARCH_STATE_SUCCEEDED", search
        candidates = client.candidates(searches[key])
        assert len(candidates) == config["max_candidates"], candidates
        assert len({c.candidate_id for c in candidates}) == len(candidates)
        outcomes = [client.outcome_name(c.outcome) for c in candidates]
        assert "infra_error" not in outcomes, outcomes
    # Template genomes always pass the checks, so every trained candidate has a score.
    trained = client.candidates(searches["trained"])
    assert all(client.outcome_name(c.outcome) == "success" for c in trained)
    board = client.leaderboard(searches["trained"])
    assert [e.rank for e in board] == list(range(1, len(board) + 1))
    assert board and all(a.score >= b.score for a, b in itertools.pairwise(board))


def test_a_captioning_model_is_scored_with_bleu4_both_ways(deployment, searches):
    """The deployed trainer scores captions: nltk's BLEU-4 and the COCO evaluator's (Java in
    its image, run on a read-only root), each beside the image-blind baseline."""
    client = deployment
    [baseline] = [
        c
        for c in client.candidates(searches["captioned"])
        if c.generator_kind == client.pb.GENERATOR_TEMPLATE
    ]
    assert client.outcome_name(baseline.outcome) == "success", baseline
    for field in BLEU4_FIELDS:
        assert baseline.scores.HasField(field), f"{field} missing: {baseline.scores}"
        assert 0.0 <= getattr(baseline.scores, field) <= 1.0, baseline.scores
    assert baseline.scores.HasField("validation"), baseline.scores
    assert not baseline.scores.HasField("accuracy"), baseline.scores


def test_prometheus_counts_match_the_store(deployment, searches):
    client = deployment
    store: dict[str, int] = {}
    for key in SEARCHES:
        for candidate in client.candidates(searches[key]):
            outcome = client.outcome_name(candidate.outcome)
            store[outcome] = store.get(outcome, 0) + 1
    expr = f'sum by (outcome) (nasforge_candidates_total{{tenant="{TENANT}"}})'
    deadline = time.monotonic() + 60
    while True:  # the last scrape may be a few seconds behind
        counted = {
            row["metric"]["outcome"]: int(float(row["value"][1]))
            for row in query(PROMETHEUS, expr)
            if float(row["value"][1]) > 0
        }
        if counted == store or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert counted == store


def test_training_jobs_spread_over_the_trainer_replicas(deployment, searches):
    per_replica = query(PROMETHEUS, "sum by (instance) (nasforge_trainer_jobs_total)")
    busy = [row for row in per_replica if float(row["value"][1]) > 0]
    assert len(per_replica) == TRAINERS, per_replica
    assert len(busy) == TRAINERS, f"jobs did not reach every replica: {per_replica}"


def test_every_dashboard_panel_returns_data(deployment, searches):
    panels = dashboard_queries(DASHBOARDS)
    assert len(panels) >= 10
    empty = []
    for panel in panels:
        try:
            wait_for_data(PROMETHEUS, panel.expr, timeout=60)
        except TimeoutError:
            empty.append(str(panel))
    assert not empty, "panels without data:\n" + "\n".join(empty)


AUDIT_SUMMARY = """
import json, sys
from pathlib import Path
from rpc.audit import verify
out = {}
for path in sorted(Path("/var/log/nasforge").glob("*.jsonl")):
    good, bad = verify(path)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    out[path.stem] = {"good": good, "bad": bad, "records": records}
json.dump(out, sys.stdout)
"""


def test_audit_logs_say_who_submitted_which_model_wrote_and_which_container_ran(
    deployment, searches
):
    [search_core] = containers_of("search_core")
    logs = json.loads(docker("exec", search_core, "python3", "-c", AUDIT_SUMMARY))
    assert set(logs) == {"search_core", "sandbox_runner", "trainer_svc"}, set(logs)
    for name, log in logs.items():
        assert log["bad"] is None and log["good"] == len(log["records"]), name
    ours = {searches["trained"], searches["written"]}
    submitted = {
        r["search_id"]
        for r in logs["search_core"]["records"]
        if r["event"] == "search_submitted" and r["tenant"] == TENANT
    }
    assert ours <= submitted
    generated = {
        r["candidate_id"]: r
        for r in logs["search_core"]["records"]
        if r["event"] == "candidate_generated"
    }
    trained = {c.candidate_id for c in deployment.candidates(searches["trained"])}
    assert trained <= set(generated)
    # The LLM's candidate names its model (when its answer held code at all).
    for candidate in deployment.candidates(searches["written"]):
        if candidate.candidate_id in generated:
            assert generated[candidate.candidate_id]["model"] == WRITTEN_MODEL
    checks = [r for r in logs["sandbox_runner"]["records"] if r.get("candidate_id") in trained]
    trainings = [r for r in logs["trainer_svc"]["records"] if r.get("candidate_id") in trained]
    assert {r["candidate_id"] for r in trainings} == trained
    for record in checks + trainings:
        assert record["tenant"] == TENANT and record["container_id"], record


def nasforge_cli(*args: str) -> subprocess.CompletedProcess:
    """The CLI against the deployment's public port, with the tenant's token and the CA."""
    connection = [
        "--target", f"127.0.0.1:{PUBLIC_PORT}",
        "--token-file", str(tenant_token_path(SECRETS, TENANT)),
        "--ca-file", str(CA_FILE),
    ]  # fmt: skip
    result = subprocess.run(
        [str(REPO / ".venv" / "bin" / "nasforge"), *args, *connection],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, f"nasforge {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def test_a_researcher_takes_models_records_and_reports_away(deployment, searches, tmp_path):
    """With only the CLI, a token and the CA, a team takes from the deployed stack: the best
    models with weights that match their manifest and load as plain state_dicts (whichever
    trainer replica trained them), the report read through the API, MLflow runs, a
    candidate retrained from its record with the same figures, and records naming what made
    each candidate (the LLM's prompt, answer and model file; the runtime image and data)."""
    import torch
    from mlflow.tracking import MlflowClient

    trained = searches["trained"]
    nasforge_cli("export", trained, "--best", "2", "--to", str(tmp_path / "models"))
    folders = sorted((tmp_path / "models").iterdir())
    assert len(folders) == 2, folders
    for folder in folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        for entry in manifest["files"]:
            data = (folder / entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry
        state = torch.load(folder / "weights.pt", weights_only=True)
        assert state and all(isinstance(t, torch.Tensor) for t in state.values())

    nasforge_cli("report", trained, "--out", str(tmp_path / "report"))
    report = (tmp_path / "report" / "report.md").read_text()
    assert all(escape(folder.name) in report for folder in folders)

    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    nasforge_cli("search", "mlflow", trained, "--tracking-uri", tracking)
    runs = MlflowClient(tracking).search_runs(
        [MlflowClient(tracking).get_experiment_by_name(trained).experiment_id]
    )
    assert len(runs) == TRAINED["max_candidates"]
    assert all(run.data.tags["weights"] == "present" for run in runs)

    with SearchClient(f"127.0.0.1:{PUBLIC_PORT}", read_tenant_token(SECRETS, TENANT),
                      tls=ClientTLS(ca_file=CA_FILE)) as client:  # fmt: skip
        best = client.leaderboard(trained, limit=1)[0].candidate.candidate_id
        for candidate in client.candidates(trained):
            record = candidate.provenance
            assert record.runtime_image_digest.startswith("sha256:"), record
            assert record.dataset_name == "fashion-mnist" and record.dataset_digest, record
            assert record.code_sha256 == hashlib.sha256(candidate.code.encode()).hexdigest()
            assert candidate.weights.available and len(candidate.weights.sha256) == 64
        written = [c for c in client.candidates(searches["written"]) if c.model]
        for candidate in written:
            record = candidate.provenance
            assert record.prompt_name and record.prompt_version, record
            assert len(record.prompt_sha256) == 64 and record.raw_answer, record
            assert record.model.backend == "embedded" and len(record.model.file_sha256) == 64
            assert record.sampling.max_new_tokens == WRITTEN["max_new_tokens"], record
        assert written, "the LLM search kept no candidate that names its model"

    # Retrained from its record on whichever trainer replica takes it: the same figures (the
    # command exits 1 when any differs by more than its tolerance, 1e-6).
    nasforge_cli("reproduce", best)


def test_make_down_leaves_nothing(deployment, searches):
    make("down")
    assert docker("ps", "-aq", "--filter", f"label={PROJECT_LABEL}").split() == []
    assert docker("network", "ls", "-q", "--filter", f"label={PROJECT_LABEL}").split() == []
    for kind in ("ps", "volume"):
        command = ["ps", "-a"] if kind == "ps" else ["volume", "ls"]
        owners = docker(
            *command, "--filter", "label=org.nasforge.managed-by",
            "--format", '{{.Label "org.nasforge.managed-by"}}',
        ).split()  # fmt: skip
        assert [o for o in owners if o.startswith("nasforge-compose-")] == [], kind
