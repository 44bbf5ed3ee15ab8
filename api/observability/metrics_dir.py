"""The folder where gunicorn's workers keep their Prometheus values (api/observability/metrics.py). It must
be named in the environment before prometheus_client is first imported, so that the workers
forked afterwards count in multiprocess mode: api/serving/gunicorn_config.py calls prepare() first."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def prepare() -> Path | None:
    """Empties PROMETHEUS_MULTIPROC_DIR when the operator set it (values of an earlier run
    would be summed in), else makes a private temporary one; returns the folder to remove
    on exit (the temporary one), or None."""
    given = os.environ.get(VARIABLE)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    created = Path(tempfile.mkdtemp(prefix="tenant-iam-metrics-"))
    os.environ[VARIABLE] = str(created)
    return created


def remove(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
