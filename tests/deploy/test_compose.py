"""docker-compose.yml against the Compose Specification, and against what `make stack` runs.

No Docker engine runs here, so the file is checked as data: it validates against the Compose
Specification's JSON schema, it runs deploy/Procfile's commands (the ones `make stack` starts with
honcho), and every Airflow process reads deploy/airflow.env, the one place for footfall's Airflow
settings, which Airflow must know.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "tests" / "fixtures" / "compose" / "compose-spec.json"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "footfall-api",
)


def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def env_file(name: str) -> dict[str, str]:
    pairs = {}
    for line in (REPO / "deploy" / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def procfile() -> dict[str, list[str]]:
    processes = {}
    for line in (REPO / "deploy" / "Procfile").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = shlex.split(command)
    return processes


def program(argv: list[str]) -> list[str]:
    """A command without its options: `airflow celery worker --celery-hostname x` -> airflow celery worker."""
    words = []
    for word in argv:
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", word) and not words:  # an environment prefix
            continue
        if word.startswith("-"):
            break
        words.append(word)
    return words


def service_argv(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(schema).validate(compose())


def test_compose_schema_check_catches_a_wrong_file() -> None:
    """The schema check above can fail: an unknown service key is refused."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = compose()
    broken["services"]["airflow-scheduler"]["restart_policy"] = "always"
    with pytest.raises(jsonschema.ValidationError, match="restart_policy"):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_compose_runs_the_commands_make_stack_runs() -> None:
    services = compose()["services"]
    compose_programs = {" ".join(program(service_argv(s))) for s in services.values() if "command" in s}
    for name, argv in procfile().items():
        assert " ".join(program(argv)) in compose_programs, f"Procfile {name}: {argv} has no compose service"
    # Two Celery workers in both: two Procfile lines, two compose replicas (scalable: no container_name).
    workers = [n for n, argv in procfile().items() if program(argv) == ["airflow", "celery", "worker"]]
    assert len(workers) == 2
    worker = services["airflow-worker"]
    assert worker["deploy"]["replicas"] == 2
    assert "container_name" not in worker


def test_every_footfall_process_reads_the_one_airflow_settings_file() -> None:
    services = compose()["services"]
    settings = env_file("airflow.env")
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service.get("env_file") == ["deploy/airflow.env"], name
        overridden = set(service.get("environment", {})) & set(settings)
        assert not overridden, f"{name} overrides deploy/airflow.env: {sorted(overridden)}"
    make_stack = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "honcho -f deploy/Procfile -e deploy/airflow.env,deploy/stack.env start" in make_stack
    assert not set(env_file("stack.env")) & set(settings), "stack.env must not override airflow.env"


def test_production_needs_a_login_and_takes_secrets_from_the_environment() -> None:
    settings = env_file("airflow.env")
    assert settings["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert settings["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    text = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
    for secret in ("POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_SECRET_KEY", "AIRFLOW_FERNET_KEY"):
        assert re.search(r"\$\{" + secret + r":\?", text), f"{secret} must come from .env, required"
    literal = re.search(r"(?im)^\s*\w*password\w*\s*:\s*[^$\s{].*$", text)
    assert not literal, f"a literal password in docker-compose.yml: {literal and literal.group(0)}"


def test_long_running_services_have_health_checks_and_the_simulator_a_profile() -> None:
    services = compose()["services"]
    for name in ("postgres", "redis", *AIRFLOW_SERVICES[1:]):
        assert "healthcheck" in services[name], name
    assert services["simulator"]["profiles"] == ["demo"]
    assert services["airflow-init"]["restart"] == "no"


def test_the_airflow_settings_are_options_airflow_knows() -> None:
    """A misspelt key in deploy/airflow.env would be ignored by Airflow without a word."""
    from airflow.configuration import conf

    known = conf.configuration_description  # Airflow's own options and its providers' (Celery)
    for key in {**env_file("airflow.env"), **env_file("stack.env")}:
        if not key.startswith("AIRFLOW__"):
            continue
        _, section, option = key.split("__", 2)
        options = known.get(section.lower(), {}).get("options", {})
        assert option.lower() in options, f"{key}: no such Airflow option"


def test_the_deployments_create_the_vendor_pools_their_dags_ask_for() -> None:
    """FOOTFALL_VENDOR_POOLS=true puts cloud-API sites in their vendor's pool, and Airflow never schedules a
    task whose pool does not exist: compose's init and `make stack-init` must create them."""
    services = compose()["services"]
    assert services["airflow-scheduler"]["environment"]["FOOTFALL_VENDOR_POOLS"] == "true"
    assert env_file("stack.env")["FOOTFALL_VENDOR_POOLS"] == "true"
    init = " ".join(service_argv(services["airflow-init"]))
    assert re.search(r"footfall sites pools --output (\S+) && airflow pools import \1", init), init
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    stack_init = makefile.split("\nstack-init:", 1)[1].split("\n\n", 1)[0]
    assert "footfall sites pools --output $(STACK_POOLS)" in stack_init
    assert "airflow pools import $(STACK_POOLS)" in stack_init
