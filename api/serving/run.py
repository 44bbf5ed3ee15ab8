"""`make run`: the database (DATABASE_URL, or the embedded PostgreSQL), migrations (on
MIGRATIONS_DATABASE_URL when set), then gunicorn in the foreground. Ctrl-C stops gunicorn
and the embedded server it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from api.settings import Settings, SettingsError
from db.embedded import database_url, migrations_url
from db.migrate import upgrade


def main() -> int:
    with database_url() as url:
        env = {**os.environ, "DATABASE_URL": url}
        try:
            # Validated (and the development secret made) once, before any worker starts.
            settings = Settings.from_env(env)
        except SettingsError as exc:
            print(f"tenant-iam: {exc}", file=sys.stderr)
            return 2
        with migrations_url() as migrations:
            upgrade(migrations)
        print(f"tenant-iam: serving on http://127.0.0.1:{settings.port} (Ctrl-C stops)", file=sys.stderr)
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:api.serving.gunicorn_config"], env=env
        )
        try:
            return server.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to gunicorn as well; give it time to finish requests.
            server.send_signal(signal.SIGTERM)
            return server.wait()
        finally:
            if server.poll() is None:
                server.kill()


if __name__ == "__main__":
    raise SystemExit(main())
