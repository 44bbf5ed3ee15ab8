"""The container and CI files, checked by reading them: no container engine or GitHub runner
is at hand here, so what matters in them is asserted instead (services, order of steps,
users, health checks, no development dependencies at run time)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            name = rest.split(" AS ")[-1].strip() if " AS " in rest else str(len(stages))
            current = stages.setdefault(name, [])
        current.append((instruction.upper(), rest.strip()))
    return stages


def test_the_dockerfile_builds_in_one_stage_and_runs_slim_as_a_user_from_the_lock() -> None:
    stages = dockerfile_stages()
    assert list(stages) == ["build", "runtime"]
    build, runtime = stages["build"], stages["runtime"]
    assert any(i == "RUN" and "-r requirements.lock" in a for i, a in build)
    runs = " ".join(a for i, a in runtime if i == "RUN")
    assert "--no-index" in runs  # only the wheels built from the lock
    assert "[dev]" not in runs
    assert "[dev]" not in " ".join(a for i, a in build if i == "RUN")
    copies = [a for i, a in runtime if i == "COPY"]
    assert any(a.startswith("--from=build") for a in copies)
    assert not any(re.search(r"\b(tests|\.env)\b", a) for a in copies)
    users = [a for i, a in runtime if i == "USER"]
    assert users
    assert users[-1] not in ("root", "0")
    [healthcheck] = [a for i, a in runtime if i == "HEALTHCHECK"]
    assert "/health/live" in healthcheck
    [command] = [a for i, a in runtime if i == "CMD"]
    assert "python:api.serving.gunicorn_config" in command
    everything = (ROOT / "Dockerfile").read_text()
    assert not re.search(r"(SECRET|PASSWORD)\s*=", everything), "no secret baked into the image"


def test_dockerignore_keeps_local_state_out() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if line.strip()}
    assert {".venv", ".data", ".git", ".env", "**/__pycache__", ".pytest_cache", ".mypy_cache"} <= ignored


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def test_compose_runs_postgres_then_the_migrations_then_the_api() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "migrate", "api"}
    assert services["db"]["image"] == "postgres:15"
    assert "healthcheck" in services["db"]
    migrate, api = services["migrate"], services["api"]
    assert migrate["command"] == ["python", "-m", "db.migrate", "up"]
    assert "MIGRATIONS_DATABASE_URL" in migrate["environment"]
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert api["ports"] == ["3000:3000"]
    assert "/health/ready" in " ".join(api["healthcheck"]["test"])
    for service in services.values():
        assert service.get("env_file") == ".env"
    # The secret comes from .env and stops `compose up` with a message when missing.
    assert api["environment"]["JWT_ACCESS_SECRET"].startswith("${JWT_ACCESS_SECRET:?")


def test_the_ci_workflow_runs_the_same_script_and_migrates_before_deploying() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "ci.yml").read_text())
    test_steps = workflow["jobs"]["test"]["steps"]
    assert any("bash .ci/run" in step.get("run", "") for step in test_steps)
    assert any("postgresql-15" in step.get("run", "") for step in test_steps)
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "test"
    runs = [step.get("run", "") for step in deploy["steps"]]
    migrate = next(i for i, run in enumerate(runs) if "db.migrate up" in run)
    release = next(i for i, run in enumerate(runs) if "vercel" in run and "deploy" in run)
    assert migrate < release
    assert "secrets.MIGRATIONS_DATABASE_URL" in str(deploy["steps"][migrate]["env"])
    # yaml reads the `on` key as True.
    triggers = workflow[True]
    assert "workflow_dispatch" in triggers
    assert "tags" in triggers["push"]


def test_ci_runs_make_test() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
