"""The Kubernetes manifests of deploy/kubernetes/, checked without a cluster.

No cluster exists here, so these tests keep the manifests from rotting against the code and
the compose deployment: images, ports and users come from compose/compose.yaml and the
Dockerfiles it builds; every NASFORGE_* variable must be a field of that service's settings
class (and its value must validate); selectors, network paths, secrets and the Prometheus
configuration are cross-checked. `kubectl kustomize` and `promtool` run where installed.

The resources are those kustomize applies: the kustomization's `resources` (the default
stack) and every Component under components/ (opt-in parts such as TGI), all checked
together as the fullest stack, and each part alone where it matters (the default stack is
whole without any component).

TLS: certificates issued by make_certs.py are put where each pod's Secret volume would put
them, and real gRPC servers built from each service's manifest settings are reached both by
the exec probe's own code (rpc.healthcheck) and by search-core's client settings, under
the host names search-core's targets use. The kubelet, DNS and the images are not involved.
"""

import importlib.util
import json
import re
import shutil
import subprocess
from concurrent import futures
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from docker_proxy.config import ProxySettings, VolumeRule
from llm_gateway.config import GatewaySettings
from rpc.client import ClientTLS
from rpc.healthcheck import channel_credentials, grpc_healthy
from rpc.quota_ledger import LEDGER_ENV
from rpc.server import server_credentials
from sandbox_runner.config import SandboxSettings
from search_core.config import SearchCoreSettings
from trainer_svc.config import TrainerSettings

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "kubernetes"
COMPOSE_DIR = ROOT / "compose"
NAMESPACE = "nasforge"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "nasforge.dev/component"  # the compose service name = Prometheus job
SANDBOX_NODES = {"nasforge.dev/sandbox": "true"}
EXAMPLE_SECRETS = "secrets.example.yaml"
CERTS_SECRET = "nasforge-certs"
# The dependencies search-core calls, by workload: its settings field naming the target.
DEPENDENCY_TARGETS = {
    "llm-gateway": "gateway_target",
    "sandbox-runner": "sandbox_target",
    "trainer-svc": "trainer_target",
}
AUDITED = {"search_core", "sandbox_runner", "trainer_svc"}  # services that keep an audit log
WORKLOAD_KINDS = {"Deployment", "DaemonSet", "StatefulSet"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}

# Settings class of each nasforge service, by compose service name.
SETTINGS = {
    "search_core": SearchCoreSettings,
    "llm_gateway": GatewaySettings,
    "sandbox_runner": SandboxSettings,
    "trainer_svc": TrainerSettings,
    "docker_proxy_sandbox": ProxySettings,
    "docker_proxy_trainer": ProxySettings,
}
GRPC_SERVICES = {"search_core", "llm_gateway", "sandbox_runner", "trainer_svc"}
# Variables a manifest may set that are no NASFORGE_ setting.
OTHER_ENV = {"DOCKER_HOST", "PGPASSFILE"}
# The workloads that count per-tenant quotas in the shared ledger (NASFORGE_QUOTA_LEDGER).
LEDGER_USERS = ("llm-gateway", "sandbox-runner", "trainer-svc")
PUBLIC = "anyone"
# Who may reach which pod port: (workload, container port) -> allowed source workloads.
# Every other pod port is reachable by nobody.
EXPECTED_INGRESS = {
    ("search-core", 50051): {PUBLIC},
    ("llm-gateway", 50052): {"search-core"},
    ("sandbox-runner", 50053): {"search-core"},
    ("trainer-svc", 50054): {"search-core"},
    ("docker-proxy-sandbox", 2375): {"sandbox-runner"},
    ("docker-proxy-trainer", 2375): {"trainer-svc"},
    ("tgi", 8080): {"llm-gateway"},
    ("vllm", 8000): {"llm-gateway"},
    # The store (search-core) and the quota ledger (the services that enforce quotas).
    ("postgres", 5432): {"search-core", "llm-gateway", "sandbox-runner", "trainer-svc"},
}
METRICS_PORT = 9100
# Compose's nasforge-prometheus carries Debian's Prometheus, built without Kubernetes
# discovery; the cluster runs upstream's (test_promtool_accepts_the_configuration).
UPSTREAM_PROMETHEUS = "prom/prometheus:v2.55.1"


# --------------------------------------------------------------------------- loading


def _load(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _manifest_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")


def _kustomization(directory: Path) -> dict:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def _resource_docs(directory: Path, kustomization: dict) -> list[dict]:
    """The objects of a kustomization's (or a Component's) `resources`, all files."""
    return [doc for name in kustomization["resources"] for doc in _load(directory / name)]


KUSTOMIZATION = _kustomization(K8S)
# Opt-in parts: kustomize Components, by the path the kustomization's `components` names.
COMPONENTS = {
    path.parent.relative_to(K8S).as_posix(): _kustomization(path.parent)
    for path in sorted((K8S / "components").glob("*/kustomization.yaml"))
}
TGI_COMPONENT = "components/tgi"
# The kustomization's commented line that enables TGI (README.md: uncomment it).
ENABLE_TGI = f"  # - {TGI_COMPONENT}"
BASE_DOCS = _resource_docs(K8S, KUSTOMIZATION)
COMPONENT_DOCS = {name: _resource_docs(K8S / name, c) for name, c in COMPONENTS.items()}
DOCS = BASE_DOCS + [doc for docs in COMPONENT_DOCS.values() for doc in docs]
EXAMPLE_SECRET_DOCS = _load(K8S / EXAMPLE_SECRETS)
COMPOSE = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())


def _of_kind(kind: str) -> list[dict]:
    return [doc for doc in DOCS if doc["kind"] == kind]


def _one(kind: str, name: str) -> dict:
    found = [doc for doc in _of_kind(kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


WORKLOADS = {doc["metadata"]["name"]: doc for doc in DOCS if doc["kind"] in WORKLOAD_KINDS}


def _pod(workload: str) -> dict:
    return WORKLOADS[workload]["spec"]["template"]


def _pod_labels(workload: str) -> dict:
    return _pod(workload)["metadata"]["labels"]


def _containers(workload: str, *, init: bool = True) -> list[dict]:
    spec = _pod(workload)["spec"]
    return spec["containers"] + (spec.get("initContainers", []) if init else [])


def _main(workload: str) -> dict:
    containers = _containers(workload, init=False)
    assert len(containers) == 1, f"{workload}: one container expected"
    return containers[0]


def _env(container: dict) -> dict[str, str]:
    """The literal env values of a container (valueFrom entries are left out)."""
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _component(workload: str) -> str:
    return _pod_labels(workload)[COMPONENT_LABEL]


def _compose_default(text: str) -> str:
    """A compose value with every ${VAR:-default} replaced by its default."""
    return re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:-([^}]*)\}", r"\1", text)


def _compose_image(service: str) -> str:
    return _compose_default(COMPOSE["services"][service]["image"])


def _dockerfile(service: str) -> str:
    """The Dockerfile compose builds the service's image from."""
    dockerfile = Path(COMPOSE["services"][service]["build"]["dockerfile"])
    return (COMPOSE_DIR / "images" / dockerfile.parent.name / "Dockerfile").read_text()


def _dockerfile_env(service: str) -> dict[str, str]:
    text = _dockerfile(service).replace("\\\n", " ")
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", line))
    return env


def _dockerfile_uid(service: str) -> int:
    """The image's user: the uid of its useradd, or root where it adds none."""
    found = re.search(r"useradd [^\n]*--uid (\d+)", _dockerfile(service))
    return int(found.group(1)) if found else 0


def _prefix(settings_class) -> str:
    return settings_class.model_config["env_prefix"]


def _nasforge_workloads() -> list[str]:
    return sorted(w for w in WORKLOADS if _component(w) in SETTINGS)


def _selects(selector: dict, labels: dict) -> bool:
    match = selector.get("matchLabels", {})
    assert not selector.get("matchExpressions"), "matchExpressions: extend this test"
    return all(labels.get(key) == value for key, value in match.items())


def _selected(selector: dict) -> set[str]:
    return {w for w in WORKLOADS if _selects(selector, _pod_labels(w))}


def _service_pods(service: dict) -> set[str]:
    """The workloads a Service sends to (its selector is a plain label map)."""
    return _selected({"matchLabels": service["spec"]["selector"]})


def _container_ports(workload: str) -> dict[str, int]:
    return {
        port["name"]: port["containerPort"]
        for container in _containers(workload, init=False)
        for port in container.get("ports", [])
    }


def _resolve_port(workload: str, port: int | str) -> int:
    ports = _container_ports(workload)
    if isinstance(port, str):
        assert port in ports, f"{workload} has no container port named {port!r}"
        return ports[port]
    assert port in ports.values(), f"{workload} has no container port {port}"
    return port


# --------------------------------------------------------------------------- layout


def test_every_document_is_well_formed_and_in_the_namespace():
    assert DOCS
    for doc in DOCS + EXAMPLE_SECRET_DOCS:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
        where = f"{doc['kind']}/{doc['metadata'].get('name')}"
        if doc["kind"] in CLUSTER_SCOPED:
            assert "namespace" not in doc["metadata"], where
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, where
    assert _one("Namespace", NAMESPACE)
    assert KUSTOMIZATION["namespace"] == NAMESPACE
    names = [(doc["kind"], doc["metadata"]["name"]) for doc in DOCS]
    assert len(names) == len(set(names)), "duplicate objects"


def test_kustomization_lists_every_manifest_but_the_secrets_example():
    listed = KUSTOMIZATION["resources"]
    assert len(listed) == len(set(listed))
    assert set(listed) == {p.name for p in _manifest_files(K8S)} - {EXAMPLE_SECRETS}
    assert EXAMPLE_SECRETS not in listed
    assert not _of_kind("Secret"), "real Secrets are created by the operator, not applied"


def test_each_component_is_a_kustomize_component_listing_its_manifests():
    assert TGI_COMPONENT in COMPONENTS
    directories = {p.parent for p in (K8S / "components").glob("*/*.yaml")}
    assert {d.relative_to(K8S).as_posix() for d in directories} == set(COMPONENTS)
    for name, component in COMPONENTS.items():
        assert component["apiVersion"] == "kustomize.config.k8s.io/v1alpha1", name
        assert component["kind"] == "Component", name
        listed = component["resources"]
        assert len(listed) == len(set(listed)), name
        assert set(listed) == {p.name for p in _manifest_files(K8S / name)}, name
        assert COMPONENT_DOCS[name], name
    # Enabled components (none by default) are ones that exist.
    assert set(KUSTOMIZATION.get("components") or []) <= set(COMPONENTS)


def test_kustomization_images_point_every_nasforge_image_at_a_registry():
    repos = {
        container["image"].split(":")[0]
        for w in WORKLOADS
        for container in _containers(w)
        if container["image"].startswith("nasforge-")
    }
    assert {image["name"] for image in KUSTOMIZATION["images"]} == repos
    for image in KUSTOMIZATION["images"]:
        assert image["newName"].endswith("/" + image["name"]) and image["newTag"]


def _kustomize(directory: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing (these machines carry it with the Google Cloud SDK)"
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _key(doc: dict) -> tuple[str, str, str]:
    return doc["kind"], doc["metadata"]["name"], doc["metadata"].get("namespace", "")


def _keys(docs: list[dict]) -> list[tuple[str, str, str]]:
    return sorted(map(_key, docs))


def test_kubectl_kustomize_renders_the_default_stack_without_tgi():
    rendered = _kustomize(K8S)
    assert _keys(rendered) == _keys(BASE_DOCS)
    assert not {"tgi", "tgi-data", "tgi-from-llm-gateway"} & {
        doc["metadata"]["name"] for doc in rendered
    }
    new_names = {image["newName"] for image in KUSTOMIZATION["images"]}
    for doc in rendered:
        if doc["kind"] in WORKLOAD_KINDS:
            spec = doc["spec"]["template"]["spec"]
            for container in spec["containers"] + spec.get("initContainers", []):
                image = container["image"]
                assert not image.startswith("nasforge-"), f"{image} was not rewritten"
                if "/nasforge-" in image:
                    assert image.rsplit(":", 1)[0] in new_names


def test_enabling_tgi_is_uncommenting_one_line_of_the_kustomization(tmp_path):
    text = (K8S / "kustomization.yaml").read_text()
    assert text.count(ENABLE_TGI) == 1, f"kustomization.yaml: one line {ENABLE_TGI!r}"
    copy = tmp_path / "kubernetes"
    shutil.copytree(K8S, copy)
    enabled = text.replace(ENABLE_TGI, ENABLE_TGI.replace("# ", "", 1))
    (copy / "kustomization.yaml").write_text(enabled)
    assert yaml.safe_load(enabled)["components"] == [TGI_COMPONENT]
    rendered = _kustomize(copy)
    component = COMPONENT_DOCS[TGI_COMPONENT]
    assert _keys(rendered) == _keys(BASE_DOCS + component)
    by_key = {_key(doc): doc for doc in rendered}
    for doc in component:  # applied as written (namespace and images need no rewriting)
        assert by_key[_key(doc)] == doc, _key(doc)


def test_manifests_validate_against_the_kubernetes_schemas():
    import kubernetes_validate as validate  # the `test` extra installs it

    for doc in DOCS + EXAMPLE_SECRET_DOCS:
        validate.validate(doc, "1.30.0", strict=True)


# --------------------------------------------------------------------------- images, pods


def test_every_workload_is_a_compose_service_with_its_image():
    assert set(WORKLOADS) == {
        "search-core",
        "llm-gateway",
        "sandbox-runner",
        "trainer-svc",
        "docker-proxy-sandbox",
        "docker-proxy-trainer",
        "tgi",
        "vllm",
        "postgres",
        "prometheus",
    }
    for workload in WORKLOADS:
        service = _component(workload)
        assert service in COMPOSE["services"], f"{workload}: {service} is no compose service"
        expected = _compose_image(service)
        if workload == "prometheus":  # see prometheus.yaml and the promtool test
            expected = UPSTREAM_PROMETHEUS
        for container in _containers(workload):
            if expected.startswith("nasforge-"):  # ours: same repository, any tag
                assert container["image"].split(":")[0] == expected.split(":")[0], workload
            else:  # third-party: the very image and tag compose runs
                assert container["image"] == expected, workload
            assert container.get("imagePullPolicy") == "IfNotPresent", workload


def test_every_container_has_requests_and_limits():
    for workload in WORKLOADS:
        for container in _containers(workload):
            resources = container.get("resources", {})
            where = f"{workload}/{container['name']}"
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= resources.get(part, {}).keys(), f"{where}: {part}"
            gpus = resources["limits"].get("nvidia.com/gpu")
            assert resources["requests"].get("nvidia.com/gpu") == gpus, where


def test_every_main_container_has_readiness_and_liveness_probes():
    for workload in WORKLOADS:
        container = _main(workload)
        for probe in ("readinessProbe", "livenessProbe"):
            assert probe in container, f"{workload}: no {probe}"


def _dockerfile_healthcheck(service: str) -> list[str]:
    """The CMD of the image's HEALTHCHECK (an exec-form JSON list)."""
    text = _dockerfile(service).replace("\\\n", " ")
    found = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])$", text, re.M)
    assert found, f"{service}: no HEALTHCHECK"
    return json.loads(found.group(1))


def test_grpc_services_are_probed_by_the_images_tls_health_check_on_their_port():
    # The kubelet's native gRPC probes cannot speak TLS, and every server now refuses to
    # serve without it: the probes run rpc.healthcheck in the container, as compose does.
    probed = set()
    for workload in _nasforge_workloads():
        service = _component(workload)
        if service not in GRPC_SERVICES:
            continue
        probed.add(service)
        prefix = _prefix(SETTINGS[service])
        image_env = _dockerfile_env(service)
        port = int(image_env[f"{prefix}PORT"])
        container = _main(workload)
        assert _env(container).get(f"{prefix}PORT", str(port)) == str(port)
        assert _container_ports(workload)["grpc"] == port
        expected = ["python3", "-m", "rpc.healthcheck", "grpc", str(port), prefix]
        assert _dockerfile_healthcheck(service) == expected, service
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            where = f"{workload} {probe}"
            assert set(container[probe]) & {"grpc", "tcpSocket", "httpGet"} == set(), where
            assert container[probe]["exec"] == {"command": expected}, where
            # A Python start with gRPC imports, then up to 3 s for the call itself.
            assert container[probe]["timeoutSeconds"] >= 5, where
    assert probed == GRPC_SERVICES


def test_metrics_are_annotated_served_on_9100_and_labelled_with_the_compose_job():
    scraped = set()
    for workload in WORKLOADS:
        annotations = _pod(workload)["metadata"].get("annotations", {})
        if annotations.get("prometheus.io/scrape") != "true":
            continue
        scraped.add(workload)
        assert annotations["prometheus.io/port"] == str(METRICS_PORT), workload
        assert _container_ports(workload).get("metrics") == METRICS_PORT, workload
    assert scraped == set(_nasforge_workloads())
    for workload in _nasforge_workloads():
        service = _component(workload)
        prefix = _prefix(SETTINGS[service])
        assert _dockerfile_env(service)[f"{prefix}METRICS_PORT"] == str(METRICS_PORT)
        assert _dockerfile_env(service)[f"{prefix}METRICS_HOST"] == "0.0.0.0"


def _effective(container: dict, pod_context: dict, key: str):
    return container.get("securityContext", {}).get(key, pod_context.get(key))


def test_every_pod_is_locked_down():
    for workload in WORKLOADS:
        spec = _pod(workload)["spec"]
        pod_context = spec.get("securityContext", {})
        service = _component(workload)
        assert pod_context.get("seccompProfile") == {"type": "RuntimeDefault"}, workload
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), workload
        assert spec.get("enableServiceLinks") is False, workload
        # Only Prometheus talks to the API server.
        assert spec.get("automountServiceAccountToken") is (workload == "prometheus"), workload
        if _main(workload)["image"].startswith("nasforge-"):
            uid = _dockerfile_uid(service)  # the image's own user
        else:
            uid = 10001
        for container in _containers(workload):
            where = f"{workload}/{container['name']}"
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("readOnlyRootFilesystem") is True, where
            assert context.get("capabilities") == {"drop": ["ALL"]}, where
            assert not context.get("privileged"), where
            assert _effective(container, pod_context, "runAsUser") == uid, where
            if workload.startswith("docker-proxy-"):  # root, only to open the Docker socket
                assert uid == 0
                assert _effective(container, pod_context, "runAsNonRoot") is False, where
            else:
                assert uid != 0
                assert _effective(container, pod_context, "runAsNonRoot") is True, where
    assert _dockerfile_uid("search_core") == 10001


def test_writable_paths_are_volumes():
    for workload in WORKLOADS:
        volumes = {v["name"] for v in _pod(workload)["spec"].get("volumes", [])}
        for template in WORKLOADS[workload]["spec"].get("volumeClaimTemplates", []):
            volumes.add(template["metadata"]["name"])
        for container in _containers(workload):
            mounts = container.get("volumeMounts", [])
            assert {m["name"] for m in mounts} <= volumes, workload
            if container in _containers(workload, init=False):
                assert "/tmp" in {m["mountPath"] for m in mounts}, f"{workload}: /tmp"


# --------------------------------------------------------------------------- settings


def test_every_nasforge_variable_is_a_field_of_the_services_settings():
    prefixes = sorted((_prefix(c) for c in SETTINGS.values()), key=len, reverse=True)
    for workload in WORKLOADS:
        service = _component(workload)
        for container in _containers(workload):
            for entry in container.get("env", []):
                name = entry["name"]
                if not name.startswith("NASFORGE_"):
                    if service in SETTINGS:
                        assert name in OTHER_ENV, f"{workload}: unexpected {name}"
                    continue
                assert service in SETTINGS, f"{workload} sets {name}"
                settings_class = SETTINGS[service]
                aliases = {f.validation_alias for f in settings_class.model_fields.values()}
                if name in aliases:  # a shared variable, e.g. NASFORGE_QUOTA_LEDGER
                    continue
                prefix = next(p for p in prefixes if name.startswith(p))
                assert prefix == _prefix(settings_class), f"{workload}: {name} is another's"
                field = name[len(prefix) :].lower()
                assert field in settings_class.model_fields, f"{workload}: {name} is no field"


def _settings(workload: str, monkeypatch):
    """The service's settings as its container would read them (image ENV, then manifest)."""
    service = _component(workload)
    environment = {**_dockerfile_env(service), **_env(_main(workload))}
    for name, value in environment.items():
        if name.startswith("NASFORGE_"):
            monkeypatch.setenv(name, value)
    return SETTINGS[service]()


def test_the_manifests_values_validate(clean_environment):
    for workload in _nasforge_workloads():
        _settings(workload, clean_environment)  # raises on a bad value


def test_tokens_file_is_set_for_every_grpc_service():
    for workload in _nasforge_workloads():
        service = _component(workload)
        if service in GRPC_SERVICES:
            variable = f"{_prefix(SETTINGS[service])}AUTH_TOKENS_FILE"
            assert _env(_main(workload))[variable] == "/run/secrets/tokens/tokens.json"


def _secret_keys() -> dict[str, set[str]]:
    return {
        doc["metadata"]["name"]: set(doc["stringData"])
        for doc in EXAMPLE_SECRET_DOCS
        if doc["kind"] == "Secret"
    }


def _secret_files(volume: dict) -> dict[str, str]:
    """File name -> Secret key of a secret volume (all keys, or only its `items`)."""
    secret = volume["secret"]
    if "items" in secret:
        return {item["path"]: item["key"] for item in secret["items"]}
    return {key: key for key in _secret_keys()[secret["secretName"]]}


def test_secret_files_named_in_env_are_mounted_from_the_example_secrets():
    secrets = _secret_keys()
    for workload in WORKLOADS:
        spec = _pod(workload)["spec"]
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for volume in volumes.values():
            if "secret" in volume:
                name = volume["secret"]["secretName"]
                assert name in secrets, workload
                assert set(_secret_files(volume).values()) <= secrets[name], workload
                for item in volume["secret"].get("items", []):
                    assert "/" not in item["path"], workload
        for container in _containers(workload, init=False):
            mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
            for name, value in _env(container).items():
                if not value.startswith("/run/"):
                    continue
                path = Path(value)
                mount = mounts.get(str(path.parent))
                assert mount, f"{workload}: {name}={value} lies in no volume"
                volume = volumes[mount["name"]]
                if "secret" in volume:
                    assert path.name in _secret_files(volume), value
        for container in _containers(workload):
            for entry in container.get("env", []):
                ref = entry.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], entry["name"]
    for doc in EXAMPLE_SECRET_DOCS:
        assert all("<" in value for value in doc["stringData"].values()), "placeholders only"


def test_the_example_tenant_registry_has_the_registry_form():
    from rpc.tenants import Registry

    example = next(d for d in EXAMPLE_SECRET_DOCS if d["metadata"]["name"] == "nasforge-tokens")
    document = json.loads(example["stringData"]["tokens.json"])
    filled = {  # a placeholder per key, made valid
        "id": lambda n: f"tok-{n:010x}",
        "sha256": lambda n: f"{n:064x}",
        "created": lambda n: "2025-01-01T00:00:00Z",
        "label": lambda n: "ci",
    }
    for n, row in enumerate([*document["tenants"].values(), *document["tokens"]], start=1):
        for key, value in row.items():
            if isinstance(value, str) and "<" in value:
                row[key] = filled[key](n)
    registry = Registry.from_json(json.dumps(document))
    assert set(registry.tenants) == {"demo"}
    assert {t.principal.name for t in registry.tokens} == {"demo", "search-core"}


# --------------------------------------------------------------------------- TLS


def _make_certs():
    spec = importlib.util.spec_from_file_location("make_certs", K8S / "make_certs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _certs_volume(workload: str) -> tuple[dict, str]:
    """The pod's volume of nasforge-certs and where the main container mounts it."""
    spec = _pod(workload)["spec"]
    (volume,) = [
        v for v in spec["volumes"] if v.get("secret", {}).get("secretName") == CERTS_SECRET
    ]
    (mount,) = [m for m in _main(workload)["volumeMounts"] if m["name"] == volume["name"]]
    assert mount.get("readOnly") is True, workload
    return volume, mount["mountPath"]


def test_grpc_services_serve_tls_and_the_internal_ones_mutual_tls(clean_environment):
    for workload in _nasforge_workloads():
        service = _component(workload)
        if service not in GRPC_SERVICES:
            continue
        settings = _settings(workload, clean_environment)
        settings.check_transport()  # what the server and its probe do first
        assert settings.plaintext is False, workload
        _, mount_path = _certs_volume(workload)
        for field in ("tls_cert_file", "tls_key_file"):
            assert str(getattr(settings, field).parent) == mount_path, (workload, field)
        if service == "search_core":  # the public port: clients bring no certificate
            assert settings.tls_client_ca_file is None
        else:
            assert str(settings.tls_client_ca_file) == f"{mount_path}/ca.crt", workload
    search = _settings("search-core", clean_environment)
    tls = search.dependency_tls()
    assert isinstance(tls, ClientTLS) and tls.cert_file and tls.key_file


def test_the_ca_key_is_in_no_secret_and_each_pod_gets_only_its_own_keys():
    make_certs = _make_certs()
    assert _secret_keys()[CERTS_SECRET] == set(make_certs.SECRET_KEYS)
    assert "ca.key" not in make_certs.SECRET_KEYS
    for workload in WORKLOADS:
        for volume in _pod(workload)["spec"].get("volumes", []):
            if volume.get("secret", {}).get("secretName") != CERTS_SECRET:
                continue
            keys = set(_secret_files(volume).values())
            own = {k for k in keys if k.endswith(".key")}
            expected = {f"{workload}.key"}
            if workload == "search-core":
                expected.add("client-search-core.key")
            assert own == expected, workload


@pytest.fixture(scope="module")
def k8s_certs(tmp_path_factory) -> Path:
    """The Secret's files as make_certs.py writes them, with the manifests' defaults."""
    directory = tmp_path_factory.mktemp("k8s-certs")
    _make_certs().write_certificates(directory)
    return directory


def _as_mounted(settings, workload: str, certs: Path, root: Path):
    """``settings`` with every path under the pod's certs mount moved to ``root``, where the
    files are laid out as the Secret volume (its `items`) would lay them out."""
    volume, mount_path = _certs_volume(workload)
    root.mkdir()
    for path, key in _secret_files(volume).items():
        (root / path).write_bytes((certs / key).read_bytes())
    update = {}
    for field, value in settings:
        if isinstance(value, Path) and str(value.parent) == mount_path:
            update[field] = root / value.name
    return settings.model_copy(update=update)


def _serve_health(settings) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_secure_port("127.0.0.1:0", server_credentials(settings))
    assert port
    server.start()
    return server, port


def _check_as(target_host: str, port: int, credentials) -> bool:
    """A health call to 127.0.0.1:port checking the certificate against ``target_host``."""
    options = [("grpc.ssl_target_name_override", target_host)]
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options=options) as channel:
        try:
            health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=5
            )
        except grpc.RpcError:
            return False
    return True


def test_probes_and_search_core_reach_each_server_with_the_k8s_certificates(
    clean_environment, k8s_certs, tmp_path
):
    search = _as_mounted(
        _settings("search-core", clean_environment), "search-core", k8s_certs, tmp_path / "sc"
    )
    client = search.dependency_tls().credentials()
    ca_only = grpc.ssl_channel_credentials(root_certificates=search.client_ca_file.read_bytes())
    for workload in ["search-core", *DEPENDENCY_TARGETS]:
        settings = _as_mounted(
            _settings(workload, clean_environment), workload, k8s_certs, tmp_path / workload
        )
        server, port = _serve_health(settings)
        try:
            # The exec probe: rpc.healthcheck with the server's own settings, at 127.0.0.1.
            healthy, detail = grpc_healthy(f"127.0.0.1:{port}", channel_credentials(settings))
            assert healthy, f"{workload}'s probe: {detail}"
            if workload == "search-core":  # the public port: the CA is all a client needs
                assert _check_as("search-core.nasforge.svc.cluster.local", port, ca_only)
                continue
            # search-core's calls, checked against the host name of its target setting.
            target = getattr(search, DEPENDENCY_TARGETS[workload])
            host = target.removeprefix("dns:///").rsplit(":", 1)[0]
            assert _check_as(host, port, client), f"search-core -> {target}"
            assert not _check_as(host, port, ca_only), f"{workload} admits no certificate"
            assert not _check_as("some-other-service", port, client), "hostname unchecked"
        finally:
            server.stop(0)


# --------------------------------------------------------------------------- audit, state


def test_audit_logs_are_written_to_a_writable_volume_per_service(clean_environment):
    audited = set()
    for workload in _nasforge_workloads():
        service = _component(workload)
        settings = _settings(workload, clean_environment)
        if service not in AUDITED:
            assert getattr(settings, "audit_log", None) is None, workload
            continue
        audited.add(service)
        assert settings.audit_log is not None, f"{workload}: no audit log"
        assert settings.audit_log.name == f"{service}.jsonl"
        mounts = {m["mountPath"]: m for m in _main(workload)["volumeMounts"]}
        mount = mounts.get(str(settings.audit_log.parent))
        assert mount, f"{workload}: the audit log lies in no volume"
        assert not mount.get("readOnly"), workload
        volumes = {v["name"]: v for v in _pod(workload)["spec"]["volumes"]}
        volume = volumes[mount["name"]]
        assert "emptyDir" in volume or "persistentVolumeClaim" in volume, workload
        assert volume.get("emptyDir", {}).get("medium") != "Memory", workload
    assert audited == AUDITED


def _copies_pgpass(workload: str) -> None:
    """The workload reads the database password from pgpass, copied as 0600 by its init
    container from the nasforge-pgpass Secret (libpq ignores a looser file)."""
    pgpass_file = _env(_main(workload))["PGPASSFILE"]
    [init] = _pod(workload)["spec"]["initContainers"]
    assert init["command"][:3] == ["install", "-m", "0600"], workload
    assert init["command"][-1] == pgpass_file, workload
    volumes = {v["name"]: v for v in _pod(workload)["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in init["volumeMounts"]}
    source = volumes[mounts[str(Path(init["command"][-2]).parent)]]
    assert source["secret"]["secretName"] == "nasforge-pgpass", workload
    copy = volumes[mounts[str(Path(pgpass_file).parent)]]
    assert copy["emptyDir"]["medium"] == "Memory", workload


def test_quotas_are_counted_in_one_ledger_in_the_stores_database(clean_environment):
    store = _settings("search-core", clean_environment).store_url
    for workload in LEDGER_USERS:
        assert _env(_main(workload))[LEDGER_ENV] == store, workload
        assert _settings(workload, clean_environment).quota_ledger == store, workload
        _copies_pgpass(workload)
    # The gateway's daily tokens are in the ledger: no usage file, no claim to hold one.
    gateway = _settings("llm-gateway", clean_environment)
    assert gateway.usage_db is None and gateway.ledger_url() == store
    claims = [c["metadata"]["labels"][NAME_LABEL] for c in _of_kind("PersistentVolumeClaim")]
    assert "llm-gateway" not in claims


def test_search_core_workers_hold_their_searches_with_leases(clean_environment):
    settings = _settings("search-core", clean_environment)
    assert 0 < settings.lease_seconds <= 60
    env = {e["name"]: e for e in _main("search-core")["env"]}
    replica_id = env["NASFORGE_SEARCH_REPLICA_ID"]["valueFrom"]["fieldRef"]
    assert replica_id == {"fieldPath": "metadata.name"}  # the pod name: one per worker


def test_search_core_shares_searches_through_postgres(clean_environment):
    deployment = WORKLOADS["search-core"]
    assert deployment["spec"]["replicas"] == 2
    settings = _settings("search-core", clean_environment)
    store = urlsplit(settings.store_url)
    assert (store.scheme, store.username, store.password) == ("postgresql", "nasforge", None)
    service = _one("Service", store.hostname)
    assert _service_pods(service) == {"postgres"}
    assert store.port in {p["port"] for p in service["spec"]["ports"]}
    # The password comes from the pgpass file, copied as 0600 (libpq ignores a looser one).
    _copies_pgpass("search-core")
    example = next(d for d in EXAMPLE_SECRET_DOCS if d["metadata"]["name"] == "nasforge-pgpass")
    host, port, database, user, _ = example["stringData"]["pgpass"].strip().split(":")
    assert (host, int(port), database, user) == (
        store.hostname,
        store.port,
        store.path.lstrip("/"),
        store.username,
    )
    budget = _one("PodDisruptionBudget", "search-core")
    assert _selected(budget["spec"]["selector"]) == {"search-core"}
    public = _one("Service", "search-core")
    assert public["spec"]["type"] == "ClusterIP"
    assert [p["port"] for p in public["spec"]["ports"]] == [50051]


def test_search_core_targets_name_services_and_replicated_ones_are_headless(
    clean_environment,
):
    settings = _settings("search-core", clean_environment)
    assert settings.trainer_target == "dns:///trainer-svc.nasforge.svc.cluster.local:50054"
    targets = {
        "llm-gateway": settings.gateway_target,
        "sandbox-runner": settings.sandbox_target,
        "trainer-svc": settings.trainer_target,
    }
    for workload, target in targets.items():
        host, port = target.removeprefix("dns:///").rsplit(":", 1)
        name = host.split(".")[0]
        if "." in host:
            assert host == f"{name}.{NAMESPACE}.svc.cluster.local", target
        service = _one("Service", name)
        assert _service_pods(service) == {workload}
        assert int(port) in {p["port"] for p in service["spec"]["ports"]}
        if WORKLOADS[workload]["spec"]["replicas"] > 1:  # round robin needs every address
            assert target.startswith("dns:///"), target
            assert service["spec"].get("clusterIP") == "None", f"{name} is not headless"


# --------------------------------------------------------------------------- services


def test_every_service_selects_a_workload_and_its_ports():
    for service in _of_kind("Service"):
        selected = _service_pods(service)
        assert len(selected) == 1, f"Service {service['metadata']['name']}: {selected}"
        (workload,) = selected
        for port in service["spec"]["ports"]:
            _resolve_port(workload, port.get("targetPort", port["port"]))
    for workload in WORKLOADS:
        selector = WORKLOADS[workload]["spec"]["selector"]
        assert _selected(selector) == {workload}, f"{workload}'s selector"
        assert _pod_labels(workload)[NAME_LABEL] == workload


def test_trainers_are_gpu_replicas_behind_a_headless_service(clean_environment):
    deployment = WORKLOADS["trainer-svc"]
    assert deployment["kind"] == "Deployment" and deployment["spec"]["replicas"] == 3
    service = _one("Service", "trainer-svc")
    assert service["spec"]["clusterIP"] == "None"
    container = _main("trainer-svc")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    settings = _settings("trainer-svc", clean_environment)
    assert settings.gpu is True
    assert _env(container)["NASFORGE_TRAINER_NAMESPACE"] == "nasforge-k8s-trainer-{hostname}"
    assert _env(_main("sandbox-runner"))["NASFORGE_SANDBOX_NAMESPACE"].endswith("{hostname}")


def test_trainer_shares_the_prepared_volume_of_its_nodes_engine(clean_environment):
    settings = _settings("trainer-svc", clean_environment)
    assert settings.prepared_volume == "nasforge-prepared"
    volumes = {v["name"]: v for v in _pod("trainer-svc")["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in _main("trainer-svc")["volumeMounts"]}
    volume = volumes[mounts[str(settings.cache_root)]]
    assert volume["hostPath"] == {
        "path": f"/var/lib/docker/volumes/{settings.prepared_volume}/_data",
        "type": "Directory",
    }
    proxy = _settings("docker-proxy-trainer", clean_environment)
    rule = next(r for r in proxy.volume_rules if r.matches(settings.prepared_volume))
    assert rule == VolumeRule(settings.prepared_volume, writable=False)


_QUANTITY_UNITS = {"": 1, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def _quantity_bytes(quantity: str) -> int:
    """A storage quantity in bytes (the binary suffixes the manifests use; others refused)."""
    found = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|)", str(quantity))
    assert found, f"{quantity!r}: extend _quantity_bytes"
    return int(found.group(1)) * _QUANTITY_UNITS[found.group(2)]


def test_trainer_weights_are_one_rwx_claim_shared_by_every_replica(clean_environment):
    # DownloadWeights reaches ReadWeights through the Service, so any replica; the weights
    # of a job trained on another pod must be there (compose's replicas share one volume).
    deployment = WORKLOADS["trainer-svc"]
    replicas = deployment["spec"]["replicas"]
    assert deployment["kind"] == "Deployment" and replicas > 1
    assert "volumeClaimTemplates" not in deployment["spec"]  # no per-replica volume
    settings = _settings("trainer-svc", clean_environment)
    mounts = {m["mountPath"]: m for m in _main("trainer-svc")["volumeMounts"]}
    mount = mounts[str(settings.weights_root)]
    assert not mount.get("readOnly") and "subPathExpr" not in mount
    volumes = {v["name"]: v for v in _pod("trainer-svc")["spec"]["volumes"]}
    volume = volumes[mount["name"]]
    assert set(volume) == {"name", "persistentVolumeClaim"}, "an emptyDir is one pod's"
    claim = _one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["metadata"]["labels"][NAME_LABEL] == "trainer-svc"
    # Retention is set in the manifest, beside the claim, and fits inside it with the
    # weights every replica may be writing at once (retention runs after each write and
    # keeps the newest file; a job's weights are at most its /out volume).
    assert "NASFORGE_TRAINER_WEIGHTS_RETENTION_BYTES" in _env(_main("trainer-svc"))
    retention = settings.weights_retention_bytes
    assert retention is not None and retention >= 1024**3
    in_flight = replicas * settings.max_concurrent_jobs * settings.output_volume_bytes
    size = _quantity_bytes(claim["spec"]["resources"]["requests"]["storage"])
    assert retention + in_flight <= size, (retention, in_flight, size)


@pytest.mark.parametrize(
    ("workload", "proxy_name", "namespace_variable"),
    [
        ("sandbox-runner", "docker-proxy-sandbox", "NASFORGE_SANDBOX_NAMESPACE"),
        ("trainer-svc", "docker-proxy-trainer", "NASFORGE_TRAINER_NAMESPACE"),
    ],
)
def test_runners_reach_their_own_docker_proxy_on_their_own_node(
    clean_environment, workload, proxy_name, namespace_variable
):
    proxy = WORKLOADS[proxy_name]
    assert proxy["kind"] == "DaemonSet"
    pod = proxy["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == SANDBOX_NODES
    proxy_settings = _settings(proxy_name, clean_environment)
    socket = next(v for v in pod["volumes"] if "hostPath" in v)
    assert socket["hostPath"] == {"path": "/var/run/docker.sock", "type": "Socket"}
    mount = next(m for m in _main(proxy_name)["volumeMounts"] if m["name"] == socket["name"])
    assert mount["mountPath"] == str(proxy_settings.docker_socket)
    service = _one("Service", proxy_name)
    assert service["spec"]["internalTrafficPolicy"] == "Local"
    assert _pod(workload)["spec"]["nodeSelector"] == SANDBOX_NODES, workload
    docker_host = urlsplit(_env(_main(workload))["DOCKER_HOST"])
    assert docker_host.scheme == "tcp"
    assert _one("Service", docker_host.hostname) is service
    assert docker_host.port in {p["port"] for p in service["spec"]["ports"]}
    image = _settings(workload, clean_environment).image
    assert image in proxy_settings.images, f"the proxy refuses {workload}'s {image}"
    # The proxy serves exactly the client's label namespace (the same {hostname} template).
    assert proxy_settings.namespace == _env(_main(workload))[namespace_variable]
    assert proxy_settings.allow_gpus is (workload == "trainer-svc")


def _gateway_model(backend: str, monkeypatch):
    """The gateway's one model of ``backend``, and the Service and workload its URL reaches."""
    (model,) = [m for m in _settings("llm-gateway", monkeypatch).models if m.backend == backend]
    url = urlsplit(model.url)
    service = _one("Service", url.hostname)
    (workload,) = _service_pods(service)
    (service_port,) = service["spec"]["ports"]
    assert service_port["port"] == (url.port or 80)
    return model, workload, _resolve_port(workload, service_port["targetPort"])


def _configured_arg(workload: str, flag: str) -> tuple[str, str]:
    """(the ConfigMap key a container argument is read from, its value there)."""
    container = _main(workload)
    args = container["args"]
    variable = re.fullmatch(r"\$\((\w+)\)", args[args.index(flag) + 1]).group(1)
    ref = {e["name"]: e for e in container["env"]}[variable]["valueFrom"]["configMapKeyRef"]
    assert ref["name"] == workload
    return ref["key"], _one("ConfigMap", workload)["data"][ref["key"]]


def _weights_on_a_claim(workload: str, path: str) -> None:
    volumes = {v["name"]: v for v in _pod(workload)["spec"]["volumes"]}
    data = next(m for m in _main(workload)["volumeMounts"] if m["mountPath"] == path)
    assert _one(
        "PersistentVolumeClaim", volumes[data["name"]]["persistentVolumeClaim"]["claimName"]
    )


def test_vllm_serves_the_gateways_default_model_on_a_gpu(clean_environment):
    container = _main("vllm")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    model, workload, port = _gateway_model("openai", clean_environment)
    assert workload == "vllm"
    args = container["args"]
    assert int(args[args.index("--port") + 1]) == port == _container_ports("vllm")["http"]
    compose_command = [_compose_default(arg) for arg in COMPOSE["services"]["vllm"]["command"]]
    for flag in ("--model", "--reasoning-parser"):  # the same model and parser as compose's
        _, value = _configured_arg("vllm", flag)
        assert value == compose_command[compose_command.index(flag) + 1], flag
    _, model_id = _configured_arg("vllm", "--model")
    assert model.upstream_model == model_id == "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B"
    assert _configured_arg("vllm", "--reasoning-parser")[1] == "deepseek_r1"
    assert model.chat_template == "server" and model.supports_constraints
    env = _env(container)
    assert env["HF_HOME"].startswith("/data/") and env["HOME"] == "/tmp"
    _weights_on_a_claim("vllm", "/data")
    search = _settings("search-core", clean_environment)
    assert search.default_model == model.name
    assert model.name in search.metrics_models
    compose_models = json.loads(
        _compose_default(
            COMPOSE["services"]["llm_gateway"]["environment"]["NASFORGE_GATEWAY_MODELS"]
        )
    )
    (compose_model,) = [m for m in compose_models if m["backend"] == "openai"]
    assert compose_model["name"] == model.name
    assert compose_model["upstream_model"] == model.upstream_model


def test_tgi_serves_the_gateways_model_on_a_gpu(clean_environment):
    container = _main("tgi")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    compose_command = [_compose_default(arg) for arg in COMPOSE["services"]["tgi"]["command"]]
    model_id = compose_command[compose_command.index("--model-id") + 1]
    assert _configured_arg("tgi", "--model-id") == ("model-id", model_id)
    assert model_id == "deepseek-ai/DeepSeek-R1-0528-Qwen3-8B"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    _weights_on_a_claim("tgi", "/data")
    model, workload, port = _gateway_model("tgi", clean_environment)
    assert workload == "tgi" and (model.backend, model.chat_template) == ("tgi", "deepseek-r1")
    args = container["args"]
    assert int(args[args.index("--port") + 1]) == port == _container_ports("tgi")["http"]
    search = _settings("search-core", clean_environment)
    assert model.name in search.metrics_models


def _model_servers(monkeypatch) -> dict[str, str]:
    """Each gateway model's name -> the workload its URL's Service sends to."""
    servers = {}
    for model in _settings("llm-gateway", monkeypatch).models:
        (servers[model.name],) = _service_pods(_one("Service", urlsplit(model.url).hostname))
    return servers


def _part_of(doc: dict) -> str:
    """Where an object is declared: "" for the default stack, else its component's path."""
    if any(doc is base for base in BASE_DOCS):
        return ""
    (name,) = [n for n, docs in COMPONENT_DOCS.items() if any(doc is d for d in docs)]
    return name


def test_the_default_stack_serves_its_llm_on_one_gpu_and_tgi_is_opt_in(clean_environment):
    assert TGI_COMPONENT not in (KUSTOMIZATION.get("components") or [])
    servers = _model_servers(clean_environment)
    default_model = _settings("search-core", clean_environment).default_model
    assert servers[default_model] == "vllm" and _part_of(WORKLOADS["vllm"]) == ""
    by_part: dict[str, set[str]] = {}
    for workload in set(servers.values()):
        by_part.setdefault(_part_of(WORKLOADS[workload]), set()).add(workload)
    assert by_part == {"": {"vllm"}, TGI_COMPONENT: {"tgi"}}
    gpus = sum(
        WORKLOADS[w]["spec"]["replicas"] * _main(w)["resources"]["limits"]["nvidia.com/gpu"]
        for w in by_part[""]
    )
    assert gpus == 1, "the default stack's LLM servers need one GPU"
    # The component brings everything TGI needs: its Service, claim, ConfigMap and the
    # network path from the gateway; the default stack has nothing of TGI's.
    (tgi_model,) = [name for name, workload in servers.items() if workload == "tgi"]
    for kind, name in [
        ("Deployment", "tgi"),
        ("Service", "tgi"),
        ("ConfigMap", "tgi"),
        ("PersistentVolumeClaim", "tgi-data"),
        ("NetworkPolicy", "tgi-from-llm-gateway"),
    ]:
        assert _part_of(_one(kind, name)) == TGI_COMPONENT, (kind, name, tgi_model)


def test_each_part_selects_only_its_own_pods_or_the_default_stacks():
    """Objects of the default stack never depend on a component, and a component's only on
    itself and the default stack, so each works with any set of components enabled."""
    for doc in DOCS:
        part = _part_of(doc)
        own = {w for w in WORKLOADS if _part_of(WORKLOADS[w]) in {"", part}}
        where = f"{part or 'default'}: {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Service":
            assert _service_pods(doc) <= own, where
        elif doc["kind"] == "NetworkPolicy":
            spec = doc["spec"]
            selected = _selected(spec["podSelector"])
            if spec["podSelector"]:
                assert selected <= own, where
            for rule in spec.get("ingress", []):
                for peer in rule.get("from", []):
                    assert _selected(peer["podSelector"]) & own, where
        elif doc["kind"] == "PersistentVolumeClaim":
            users = {
                w
                for w in WORKLOADS
                for v in _pod(w)["spec"].get("volumes", [])
                if v.get("persistentVolumeClaim", {}).get("claimName") == doc["metadata"]["name"]
            }
            assert users and users <= own, where


def test_postgres_keeps_its_data_on_a_claim_and_its_password_in_a_secret():
    statefulset = WORKLOADS["postgres"]
    assert statefulset["kind"] == "StatefulSet"
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in _main("postgres")["volumeMounts"]}
    env = _env(_main("postgres"))
    assert env["PGDATA"].startswith(mounts[claim["metadata"]["name"]] + "/")
    assert env["POSTGRES_PASSWORD_FILE"].startswith("/run/secrets/")
    assert "POSTGRES_PASSWORD" not in env


# --------------------------------------------------------------------------- network


def _ingress_sources() -> dict[tuple[str, int], set[str]]:
    """Who each workload's container ports admit, from the NetworkPolicies."""
    allowed: dict[tuple[str, int], set[str]] = {}
    for policy in _of_kind("NetworkPolicy"):
        spec = policy["spec"]
        assert spec["policyTypes"] == ["Ingress"], policy["metadata"]["name"]
        for workload in _selected(spec["podSelector"]):
            for rule in spec.get("ingress", []):
                if "from" in rule:
                    sources: set[str] = set()
                    for peer in rule["from"]:
                        assert set(peer) == {"podSelector"}, "extend this test"
                        sources |= _selected(peer["podSelector"])
                else:
                    sources = {PUBLIC}
                ports = _container_ports(workload)
                for port in rule["ports"]:
                    number = ports.get(port["port"], port["port"])
                    if number in ports.values():  # podSelector {} also selects pods without it
                        allowed.setdefault((workload, number), set()).update(sources)
    return allowed


def test_ingress_is_denied_by_default():
    deny = _one("NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}


def test_every_network_policy_selects_pods_and_names_their_ports():
    for policy in _of_kind("NetworkPolicy"):
        spec = policy["spec"]
        selected = _selected(spec["podSelector"])
        assert selected, f"{policy['metadata']['name']} selects no pod"
        for rule in spec.get("ingress", []):
            for peer in rule.get("from", []):
                assert _selected(peer["podSelector"]), policy["metadata"]["name"]
            for port in rule["ports"]:
                assert any(port["port"] in _container_ports(w).values() for w in selected), (
                    f"{policy['metadata']['name']}: no selected pod has port {port['port']}"
                )


def test_network_paths_are_exactly_the_architectures():
    expected = dict(EXPECTED_INGRESS)
    for workload in WORKLOADS:
        if _container_ports(workload).get("metrics") == METRICS_PORT:
            expected[(workload, METRICS_PORT)] = {"prometheus"}
    actual = _ingress_sources()
    assert actual == expected  # and every other pod port admits nobody


# --------------------------------------------------------------------------- prometheus


def _prometheus_config() -> dict:
    return yaml.safe_load(_one("ConfigMap", "prometheus-config")["data"]["prometheus.yml"])


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_prometheus_rules", K8S / "generate_prometheus_rules.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prometheus_rules_are_compose_rules_verbatim():
    rules = _one("ConfigMap", "prometheus-rules")["data"]
    compose_rules = {
        p.name: p.read_text() for p in (COMPOSE_DIR / "prometheus" / "rules").glob("*.yml")
    }
    assert rules == compose_rules, (
        "prometheus-rules.yaml is stale: run .venv/bin/python "
        "deploy/kubernetes/generate_prometheus_rules.py"
    )
    assert (K8S / "prometheus-rules.yaml").read_text() == _generator().render()
    # Every rule file is mounted where rule_files finds it.
    volume = next(v for v in _pod("prometheus")["spec"]["volumes"] if v["name"] == "config")
    items = {
        item["key"]: item["path"]
        for source in volume["projected"]["sources"]
        if source["configMap"]["name"] == "prometheus-rules"
        for item in source["configMap"]["items"]
    }
    assert items == {name: f"rules/{name}" for name in rules}
    mount = next(m for m in _main("prometheus")["volumeMounts"] if m["name"] == "config")
    assert _prometheus_config()["rule_files"] == [f"{mount['mountPath']}/rules/*.yml"]


def test_prometheus_discovers_annotated_pods_and_names_jobs_as_compose_does():
    config = _prometheus_config()
    (pods,) = [job for job in config["scrape_configs"] if "kubernetes_sd_configs" in job]
    (sd,) = pods["kubernetes_sd_configs"]
    assert sd["role"] == "pod" and sd["namespaces"]["names"] == [NAMESPACE]
    relabel = pods["relabel_configs"]
    assert {
        "source_labels": ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"],
        "regex": "true",
        "action": "keep",
    } in relabel
    job = next(r for r in relabel if r.get("target_label") == "job")
    assert job["source_labels"] == ["__meta_kubernetes_pod_label_nasforge_dev_component"]
    # Every job the rules name exists as a scraped pod's component (or a static job).
    jobs = {_component(w) for w in _nasforge_workloads()}
    jobs |= {j["job_name"] for j in config["scrape_configs"] if "static_configs" in j}
    rules_text = "".join(_one("ConfigMap", "prometheus-rules")["data"].values())
    named = set(re.findall(r'job[=:] *"?([a-z_]+)"?', rules_text))
    assert named and named <= jobs, named - jobs


def test_prometheus_reads_pods_with_a_namespaced_role():
    role = _one("Role", "prometheus-discovery")
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}
    ]
    binding = _one("RoleBinding", "prometheus-discovery")
    assert binding["roleRef"]["name"] == "prometheus-discovery"
    account = _pod("prometheus")["spec"]["serviceAccountName"]
    assert _one("ServiceAccount", account)
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}
    ]


def _promtool_check_config(promtool: str, config: dict, directory: Path):
    path = directory / "prometheus.yml"
    path.write_text(json.dumps(config))
    return subprocess.run(
        [promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_configuration(tmp_path):
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: make test-data installs Debian's prometheus"
    config = _prometheus_config()
    (tmp_path / "rules").mkdir()
    for name, text in _one("ConfigMap", "prometheus-rules")["data"].items():
        (tmp_path / "rules" / name).write_text(text)
    config["rule_files"] = [str(tmp_path / "rules" / "*.yml")]
    result = _promtool_check_config(promtool, config, tmp_path)
    if "field kubernetes_sd_configs not found" in result.stdout + result.stderr:
        # Debian's build (the one compose's image carries) has no Kubernetes discovery:
        # check everything else with a static target in its place.
        for job in config["scrape_configs"]:
            if job.pop("kubernetes_sd_configs", None) is not None:
                job["static_configs"] = [{"targets": ["10.0.0.1:9100"]}]
        result = _promtool_check_config(promtool, config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
