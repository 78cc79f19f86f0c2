"""docker/compose.yaml, docker/k8s/ and the Dockerfile point at real entrypoints and consume every
queue; structural checks only (no Docker engine or cluster is needed)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from app.config import WORKER_QUEUES, Settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "docker" / "k8s"
QUEUES = {"settlement", "risk", "compliance", "alerts", "batch"}
IMAGE = "fusion-prime-workers"
NAMESPACE = "fusion-prime"
ONE_SHOTS = {"migrate", "pubsub-init"}
# Environment names that are not our settings, and who reads them.
EXTERNAL_ENV = {
    "POSTGRES_USER": "the postgres image",
    "POSTGRES_PASSWORD": "the postgres image (and DATABASE_URL in compose)",
    "POSTGRES_DB": "the postgres image",
    "REDIS_ADDRESS": "KEDA's redis trigger (addressFromEnv)",
    "REDIS_PASSWORD": "KEDA's TriggerAuthentication",
}
SECRET_NAME = re.compile(r"PASSWORD|PEPPER|SECRET|TOKEN|BASIC_AUTH|ENCRYPTION_KEY")
URL_CREDENTIALS = re.compile(r"://[^/\s:@]*:([^@\s]+)@")


# --- loading -------------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text()))


def compose_text() -> str:
    """The file without its comment lines (they may show example syntax)."""
    lines = (ROOT / "docker" / "compose.yaml").read_text().splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("#"))


def settings_env_names() -> set[str]:
    return {name.upper() for name in Settings.model_fields}


def setting_default(env_name: str) -> Any:
    return Settings.model_fields[env_name.lower()].default


def secret_env_names() -> set[str]:
    typed = {name.upper() for name, field in Settings.model_fields.items()
             if field.annotation is SecretStr}
    return typed | {name for name in settings_env_names() if SECRET_NAME.search(name)}


def is_secret_name(name: str) -> bool:
    return name in secret_env_names() or bool(SECRET_NAME.search(name))


@cache
def k8s_files() -> dict[str, list[dict[str, Any]]]:
    files: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "secret.yaml":
            continue  # an operator's filled-in copy of the template (git-ignored)
        docs = list(yaml.safe_load_all(path.read_text()))
        assert docs and all(isinstance(doc, dict) for doc in docs), f"{path.name}: empty document"
        files[path.name] = docs
    return files


def k8s_objects(kind: str | None = None, *, template: bool = False) -> Iterator[dict[str, Any]]:
    """Every object applied by kustomization.yaml (or only those of the Secret template)."""
    for name, docs in k8s_files().items():
        if name == "kustomization.yaml" or (name == "secret.template.yaml") != template:
            continue
        yield from (doc for doc in docs if kind is None or doc["kind"] == kind)


def by_name(kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in k8s_objects(kind)}


def pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in [*k8s_objects("Deployment"), *k8s_objects("Job")]:
        yield obj["metadata"]["name"], obj["spec"]["template"]["spec"]


def containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, spec in pod_specs():
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            yield name, container


def argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def config_map() -> dict[str, str]:
    return dict(by_name("ConfigMap")["fusion-prime-config"]["data"])


def queue_of(command: list[str]) -> str:
    return command[command.index("-Q") + 1]


def seconds(duration: str | int) -> int:
    """A compose duration ("90s", "1m30s") in seconds."""
    if isinstance(duration, int):
        return duration
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    assert "".join(n + u for n, u in parts) == duration, f"unparsed duration {duration!r}"
    return sum(int(n) * units[u] for n, u in parts)


# --- entrypoints ---------------------------------------------------------------------------


def check_entrypoint(where: str, command: list[str]) -> None:
    """The program and module a container runs exist in this repository."""
    assert command, f"{where}: no command (the image default is the API; say what runs)"
    program = command[0]
    if program == "fusion-prime":
        scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
        assert scripts.get("fusion-prime") == "cli.main:cli", where
        from click.testing import CliRunner  # noqa: PLC0415 - only this branch needs click

        from cli.main import cli  # noqa: PLC0415

        result = CliRunner().invoke(cli, [*command[1:], "--help"])
        assert result.exit_code == 0, (where, result.output)
    elif program == "celery":
        assert command[1:3] == ["-A", "tasks"], where
        assert importlib.util.find_spec("tasks") is not None
        # Global options (--quiet) may come before the subcommand.
        subcommand = next(arg for arg in command[3:] if not arg.startswith("-"))
        assert subcommand in ("worker", "beat", "flower", "inspect"), where
        for option in command[3:]:
            if option.startswith("--conf="):
                assert (ROOT / option.removeprefix("--conf=")).is_file(), where
    elif program == "python":
        assert command[1] == "-m", where
        assert command[2] == "tasks.health", f"{where}: python -m {command[2]} is no entrypoint"
        assert importlib.util.find_spec("tasks.health") is not None
    elif program == "gunicorn":
        module, _, attribute = command[-1].partition(":")
        assert (module, attribute) == ("web.wsgi", "app"), where
        assert (ROOT / "web" / "wsgi.py").is_file()
        if (ROOT / "web" / "gunicorn_conf.py").is_file():
            # JSON logs and multiprocess metrics: without it /metrics shows one worker's counts.
            assert {"-c", "--config"} & set(command), f"{where}: API without web/gunicorn_conf.py"
        for flag in ("-c", "--config"):
            if flag in command:
                config = command[command.index(flag) + 1]
                if config.startswith("python:"):
                    assert importlib.util.find_spec(config.removeprefix("python:")), where
                else:
                    assert (ROOT / config).is_file(), f"{where}: {config} is not in the repo"
    elif program == "python":
        assert command[1:3] == ["-m", "bridges"] and command[3:] in ([], ["outbox"]), where
        assert (ROOT / "bridges" / "__main__.py").is_file()
    else:
        raise AssertionError(f"{where}: unknown program {program}")


# --- compose -------------------------------------------------------------------------------


def app_services() -> dict[str, dict[str, Any]]:
    return {name: service for name, service in compose()["services"].items()
            if str(service.get("image", "")).startswith(IMAGE)}


def test_compose_parses_and_every_service_has_a_healthcheck_or_says_why_not() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "api", "worker-settlement", "beat", "flower",
            "pubsub", "pubsub-init", "bridge", "outbox-relay"} <= set(services)
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if check.get("disable"):
            # Only one-shot jobs, which dependants wait for with service_completed_successfully.
            assert name in ONE_SHOTS and service.get("restart") == "no", name
        else:
            assert check["test"][0] in ("CMD", "CMD-SHELL"), name
            assert service.get("restart") == "unless-stopped", f"{name} is long-running"


def test_every_compose_dependency_has_a_condition() -> None:
    services = compose()["services"]
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on without conditions"
        for dependency, rule in depends_on.items():
            assert dependency in services, (name, dependency)
            expected = ("service_completed_successfully" if dependency in ONE_SHOTS
                        else "service_healthy")
            assert rule == {"condition": expected}, (name, dependency, rule)
    # Everything that reads or writes the database starts after the schema is there.
    for name, service in app_services().items():
        if name not in ONE_SHOTS | {"flower"}:
            assert "migrate" in service["depends_on"], name


def test_every_queue_has_a_worker() -> None:
    consumed: set[str] = set()
    for service in compose()["services"].values():
        command = service.get("command") or []
        if command[:4] == ["celery", "-A", "tasks", "worker"]:
            consumed |= set(command[command.index("-Q") + 1].split(","))
    assert consumed >= QUEUES


def test_compose_runs_one_worker_group_per_queue_with_the_settings_bounds() -> None:
    assert set(WORKER_QUEUES) == QUEUES
    services = compose()["services"]
    workers = {name: s for name, s in services.items()
               if s.get("command", [])[:4] == ["celery", "-A", "tasks", "worker"]}
    assert {queue_of(s["command"]) for s in workers.values()} == QUEUES
    assert len(workers) == len(QUEUES), "one worker group (service) per queue"
    limit = setting_default("CELERY_TASK_TIME_LIMIT")
    for queue in WORKER_QUEUES:
        service = services[f"worker-{queue}"]
        command, upper = service["command"], queue.upper()
        assert queue_of(command) == queue
        assert f"{queue}@%h" in command and "-E" in command
        autoscale = next(arg for arg in command if arg.startswith("--autoscale="))
        assert autoscale == (f"--autoscale=${{WORKER_{upper}_AUTOSCALE_MAX:-"
                             f"{setting_default(f'WORKER_{upper}_AUTOSCALE_MAX')}}},"
                             f"${{WORKER_{upper}_AUTOSCALE_MIN:-"
                             f"{setting_default(f'WORKER_{upper}_AUTOSCALE_MIN')}}}")
        # Not `inspect ping`: it passes a worker that stopped consuming after a reconnect.
        (kind, check) = service["healthcheck"]["test"]
        assert kind == "CMD-SHELL"
        assert check.startswith(f"python -m tasks.health {queue}@$$HOSTNAME --queue {queue} ")
        check_entrypoint(f"compose worker-{queue} healthcheck", check.split())
        assert seconds(service["stop_grace_period"]) > limit, "warm shutdown needs time"
        assert service["stop_signal"] == "SIGTERM"


def test_compose_metrics_and_flower_checks_use_the_configured_ports() -> None:
    services = compose()["services"]
    for name, variable in (("bridge", "BRIDGE_METRICS_PORT"),
                           ("outbox-relay", "OUTBOX_METRICS_PORT")):
        env = services[name]["environment"]
        assert env["METRICS_BIND_HOST"] == "0.0.0.0", name
        check = " ".join(services[name]["healthcheck"]["test"])
        assert f"127.0.0.1:{env[variable]}/healthz" in check, name
    flower = services["flower"]
    assert flower["command"] == ["celery", "-A", "tasks", "flower", "--conf=tasks/flowerconfig.py",
                                 "--port=5555"]
    assert "127.0.0.1:5555/healthcheck" in " ".join(flower["healthcheck"]["test"])
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == (
        "${FLOWER_USER:-admin}:${FLOWER_PASSWORD:?set FLOWER_PASSWORD}")
    assert "/readyz" in " ".join(services["api"]["healthcheck"]["test"])


def test_commands_point_at_real_entrypoints() -> None:
    for name, service in app_services().items():
        check_entrypoint(f"compose {name}", service["command"])


def test_compose_environment_names_are_settings() -> None:
    """A typo (WORKER_SETTELMENT_AUTOSCALE_MAX) would be silently ignored by the app."""
    text = compose_text()
    names = set(re.findall(r"(?<!\$)\$\{([A-Za-z0-9_]+)", text))
    for service in app_services().values():
        names |= set(service.get("environment", {}))
    assert names, "nothing found: the parser is broken"
    for name in names:
        assert_known_env(name)


def test_compose_holds_no_literal_secret() -> None:
    text = compose_text()
    for match in re.finditer(r"(?<!\$)\$\{([A-Za-z0-9_]+)(?:(:?[-?])([^}]*))?\}", text):
        name, operator, default = match.groups()
        if is_secret_name(name) and operator in (":-", "-"):
            assert default == "", f"{name} has a literal default"
    for password in URL_CREDENTIALS.findall(text):
        assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", password), password
    for name, service in compose()["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if is_secret_name(key):
                leftover = re.sub(r"\$\{[^}]*\}", "", str(value))
                assert leftover in ("", ":"), f"{name}: {key} holds a literal"


def test_dockerfile_copies_every_package() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for package in ("app", "bridges", "cli", "tasks", "web", "alembic"):
        assert f"COPY {package} ./{package}" in dockerfile


# --- Kubernetes ----------------------------------------------------------------------------


def assert_known_env(name: str) -> None:
    if name in settings_env_names() or name in EXTERNAL_ENV:
        return
    if name.startswith("FLOWER_"):
        from flower.options import default_options  # noqa: PLC0415 - Flower's own options

        assert name.removeprefix("FLOWER_").lower() in default_options, name
        return
    raise AssertionError(f"{name} is neither a setting (app/config.py) nor a known external name")


def test_k8s_files_parse_and_kustomization_lists_every_manifest() -> None:
    files = k8s_files()
    kustomization = files["kustomization.yaml"][0]
    listed = set(kustomization["resources"])
    assert listed == set(files) - {"kustomization.yaml", "secret.template.yaml"}
    assert kustomization["namespace"] == NAMESPACE
    for name, docs in files.items():
        if name == "kustomization.yaml":
            continue
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), name
            if doc["kind"] != "Namespace":
                assert doc["metadata"]["namespace"] == NAMESPACE, (name, doc["kind"])


def test_k8s_has_every_role() -> None:
    deployments = by_name("Deployment")
    assert {"api", "bridge", "outbox-relay", "beat", "flower",
            *(f"worker-{queue}" for queue in WORKER_QUEUES)} == set(deployments)
    assert argv(by_name("Job")["migrate"]["spec"]["template"]["spec"]["containers"][0]) == [
        "fusion-prime", "db", "upgrade"]
    assert set(by_name("Service")) == {"api", "flower"}
    assert by_name("Namespace").keys() == {NAMESPACE}


def test_every_queue_has_a_k8s_worker_and_scaled_object() -> None:
    deployments, scaled = by_name("Deployment"), by_name("ScaledObject")
    config = config_map()
    workers = {name: d for name, d in deployments.items()
               if argv(d["spec"]["template"]["spec"]["containers"][0])[3:4] == ["worker"]}
    assert set(workers) == {f"worker-{queue}" for queue in WORKER_QUEUES}
    for queue in WORKER_QUEUES:
        name, upper = f"worker-{queue}", queue.upper()
        (container,) = workers[name]["spec"]["template"]["spec"]["containers"]
        command = argv(container)
        assert queue_of(command) == queue, "exactly its own queue"
        assert f"--concurrency=$(WORKER_{upper}_CONCURRENCY)" in command
        assert "-E" in command and f"{queue}@%h" in command
        assert "replicas" not in workers[name]["spec"], "the KEDA HPA owns replicas"
        scaler = scaled[name]
        assert scaler["apiVersion"] == "keda.sh/v1alpha1"
        assert scaler["spec"]["scaleTargetRef"]["name"] == name
        for bound, key in (("min", "minReplicaCount"), ("max", "maxReplicaCount")):
            env = f"WORKER_{upper}_AUTOSCALE_{bound.upper()}"
            assert scaler["spec"][key] == int(config[env]) == setting_default(env), (name, key)
        (trigger,) = scaler["spec"]["triggers"]
        assert trigger["type"] == "redis"
        assert trigger["metadata"]["listName"] == queue
        assert int(trigger["metadata"]["listLength"]) > 0
        assert trigger["metadata"]["addressFromEnv"] in config
        assert trigger["authenticationRef"]["name"] in by_name("TriggerAuthentication")
        for key in ("CONCURRENCY", "AUTOSCALE_MIN", "AUTOSCALE_MAX"):
            assert int(config[f"WORKER_{upper}_{key}"]) == setting_default(f"WORKER_{upper}_{key}")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()} <= set(workers)


def test_k8s_commands_point_at_real_entrypoints() -> None:
    for name, container in containers():
        check_entrypoint(f"k8s {name}", argv(container))
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            command = container.get(probe, {}).get("exec", {}).get("command")
            if command and command[0] == "sh":
                check_entrypoint(f"k8s {name} {probe}", command[2].split())
    # Beat keeps its schedule on a writable volume (the root filesystem is read-only).
    (beat,) = by_name("Deployment")["beat"]["spec"]["template"]["spec"]["containers"]
    schedule = argv(beat)[argv(beat).index("-s") + 1]
    assert any(schedule.startswith(m["mountPath"] + "/") for m in beat["volumeMounts"])


def test_k8s_images_are_the_project_image() -> None:
    assert compose()["x-app"]["image"].split(":")[0] == IMAGE
    assert f"-t {IMAGE}" in (ROOT / "docker" / "Dockerfile").read_text()
    for name, container in containers():
        assert container["image"].split(":")[0] == IMAGE, name
    (image,) = k8s_files()["kustomization.yaml"][0]["images"]
    assert image["name"] == IMAGE


def test_k8s_selectors_match_labels() -> None:
    deployments = by_name("Deployment")
    pod_labels = {name: d["spec"]["template"]["metadata"]["labels"]
                  for name, d in deployments.items()}

    def selects(selector: dict[str, str]) -> set[str]:
        return {name for name, labels in pod_labels.items() if selector.items() <= labels.items()}

    for name, deployment in deployments.items():
        assert selects(deployment["spec"]["selector"]["matchLabels"]) == {name}
    for name, service in by_name("Service").items():
        assert selects(service["spec"]["selector"]) == {name}
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        port_names = {port["name"] for port in container["ports"]}
        assert {port["targetPort"] for port in service["spec"]["ports"]} <= port_names
    budgets = by_name("PodDisruptionBudget")
    assert {"api", "worker-settlement"} <= set(budgets)
    for name, budget in budgets.items():
        assert selects(budget["spec"]["selector"]["matchLabels"]) == {name}, name
        assert budget["spec"].keys() & {"minAvailable", "maxUnavailable"}
    # A minAvailable budget on a single replica would block every node drain.
    assert budgets["api"]["spec"]["minAvailable"] < deployments["api"]["spec"]["replicas"]


def test_beat_is_a_singleton() -> None:
    beat = by_name("Deployment")["beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "beat" not in {s["spec"]["scaleTargetRef"]["name"]
                          for s in by_name("ScaledObject").values()}
    assert "deploy" not in compose()["services"]["beat"]


def test_k8s_probes() -> None:
    deployments = by_name("Deployment")
    (api,) = deployments["api"]["spec"]["template"]["spec"]["containers"]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    config = config_map()
    for name, variable in (("bridge", "BRIDGE_METRICS_PORT"),
                           ("outbox-relay", "OUTBOX_METRICS_PORT")):
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["ports"][0]["containerPort"] == int(config[variable])
    assert config["METRICS_BIND_HOST"] == "0.0.0.0"
    for name, deployment in deployments.items():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "livenessProbe" in container, name
            ports = {port["name"] for port in container.get("ports", [])}
            for probe in ("livenessProbe", "readinessProbe"):
                http = container.get(probe, {}).get("httpGet")
                if http:
                    assert http["port"] in ports, (name, probe)


def test_k8s_workers_check_that_they_consume_their_own_queue() -> None:
    for queue in WORKER_QUEUES:
        (container,) = by_name("Deployment")[f"worker-{queue}"]["spec"]["template"]["spec"][
            "containers"]
        shell, flag, check = container["livenessProbe"]["exec"]["command"]
        assert (shell, flag) == ("sh", "-c")
        assert check.startswith(f"python -m tasks.health {queue}@$HOSTNAME --queue {queue} ")
        # The probe's own timeout covers the check's broker round trips.
        timeout = float(check.split("--timeout ")[1].split()[0])
        assert container["livenessProbe"]["timeoutSeconds"] > timeout


def test_deployed_settings_pass_the_workers_visibility_timeout_check() -> None:
    """A worker refuses to start otherwise (tasks/celery_app.py)."""
    from app.services.worker_health import delivery_budget_problem  # noqa: PLC0415

    config = config_map()
    assert delivery_budget_problem(
        float(config["CELERY_VISIBILITY_TIMEOUT"]),
        max(float(config["CELERY_TASK_TIME_LIMIT"]), float(config.get(
            "CELERY_LONG_TASK_TIME_LIMIT", setting_default("CELERY_LONG_TASK_TIME_LIMIT")))),
        float(config.get("CELERY_RETRY_BACKOFF_MAX", setting_default("CELERY_RETRY_BACKOFF_MAX")))
    ) is None


def test_workers_outlast_the_task_time_limit_on_shutdown() -> None:
    limit = max(int(config_map()["CELERY_TASK_TIME_LIMIT"]),
                setting_default("CELERY_TASK_TIME_LIMIT"))
    for queue in WORKER_QUEUES:
        spec = by_name("Deployment")[f"worker-{queue}"]["spec"]["template"]["spec"]
        assert spec["terminationGracePeriodSeconds"] > limit, queue


def test_pods_run_as_non_root_with_resources() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    for name, spec in pod_specs():
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True, name
        assert security["runAsUser"] != 0 and f"--uid {security['runAsUser']}" in dockerfile
        assert spec["serviceAccountName"] == "fusion-prime"
    for name, container in containers():
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        if security.get("readOnlyRootFilesystem"):
            assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, name
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][bound]), (name, bound)


def test_k8s_environment_names_are_settings() -> None:
    names = set(config_map())
    for secret in k8s_objects("Secret", template=True):
        names |= set(secret["stringData"])
    for _, container in containers():
        names |= {entry["name"] for entry in container.get("env", [])}
        for argument in argv(container):
            names |= set(re.findall(r"\$\(([A-Z0-9_]+)\)", argument))
    assert len(names) > 20, "nothing found: the parser is broken"
    for name in names:
        assert_known_env(name)


def test_k8s_secrets_are_references_and_the_template_holds_placeholders_only() -> None:
    config = config_map()
    for key, value in config.items():
        assert not is_secret_name(key), f"{key} belongs in a Secret"
        assert not URL_CREDENTIALS.search(value), f"{key} holds credentials"
    templates = {s["metadata"]["name"]: s for s in k8s_objects("Secret", template=True)}
    assert not list(k8s_objects("Secret")), "real Secrets are not committed or applied by -k"
    for name, secret in templates.items():
        assert "data" not in secret, name
        for key, value in secret["stringData"].items():
            assert "REPLACE_ME" in value, f"{name}.{key} is not a placeholder"
    for name, container in containers():
        for source in container.get("envFrom", []):
            if "secretRef" in source:
                assert source["secretRef"]["name"] in templates, name
        for entry in container.get("env", []):
            ref = entry.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert entry["name"] in templates[ref["name"]]["stringData"], (name, ref)
            elif is_secret_name(entry["name"]):
                assert re.fullmatch(r"(\$\([A-Z0-9_]+\)|:)+", entry.get("value", "x")), name
    for auth in k8s_objects("TriggerAuthentication"):
        for ref in auth["spec"]["secretTargetRef"]:
            assert ref["key"] in templates[ref["name"]]["stringData"]


# --- optional tools: used when installed, never required -----------------------------------


def test_kustomize_renders_the_whole_set() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    rendered = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True,
                              timeout=60, check=True).stdout
    docs = list(yaml.safe_load_all(rendered))
    assert len(docs) == len(list(k8s_objects()))
    images = {c["image"] for d in docs if d["kind"] in ("Deployment", "Job")
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert images and {image.rsplit("/", 1)[-1].split(":")[0] for image in images} == {IMAGE}


def test_docker_compose_accepts_the_file() -> None:
    """`config` validates the schema and interpolation without an engine (v2 plugin or v1)."""
    path = ROOT / "docker" / "compose.yaml"
    docker, legacy = shutil.which("docker"), shutil.which("docker-compose")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True,
                                 timeout=30, check=False).returncode == 0:
        command, text = [docker, "compose", "-f", str(path), "config", "-q"], None
    elif legacy:
        # Compose v1 predates the top-level `name:`; everything else must pass as is.
        command = [legacy, "--project-directory", str(path.parent), "-f", "-", "config", "-q"]
        text = "\n".join(line for line in path.read_text().splitlines()
                         if not line.startswith("name: "))
    else:
        pytest.skip("neither the docker compose plugin nor docker-compose is installed")

    def config(**secrets: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("POSTGRES_PASSWORD", "FLOWER_PASSWORD")}
        return subprocess.run(command, input=text, text=True, capture_output=True,
                              env={**env, **secrets}, timeout=60, check=False)

    valid = config(POSTGRES_PASSWORD="x", FLOWER_PASSWORD="y")
    assert valid.returncode == 0, valid.stderr
    missing = config(POSTGRES_PASSWORD="x")
    assert missing.returncode != 0 and "FLOWER_PASSWORD" in missing.stderr
