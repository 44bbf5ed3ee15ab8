"""PgBouncer in transaction mode in front of the test server, on a free loopback port: the
kind of pooler (Supabase's port 6543) the API must work behind. Debian's pgbouncer; `.ci/run`
installs it where missing."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tests.servers import free_port

# Fewer server connections than the clients the tests run at once.
SERVER_POOL_SIZE = 2


def pgbouncer_binary() -> str:
    found = shutil.which("pgbouncer") or next(
        (path for path in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if Path(path).exists()), None
    )
    if found is None:
        message = "no pgbouncer (apt-get install pgbouncer): the transaction-pooler run did not happen"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run it)")
        pytest.skip(message)
    return found


def run_as(host: str) -> str:
    """pgbouncer refuses to run as root. It drops to nobody, or, where the server listens on
    a Unix socket only (the embedded server), to the owner of that socket's folder."""
    if host.startswith("/"):
        return pwd.getpwuid(Path(host).stat().st_uid).pw_name
    return "nobody"


@contextmanager
def running_pgbouncer(server_url: str, user: str) -> Iterator[str]:
    """PgBouncer (pool_mode = transaction) forwarding every database of the server; the URL
    of `user` through it (for the database of the server URL; callers set their own)."""
    binary = pgbouncer_binary()
    server = conninfo_to_dict(server_url)
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="iam-pgbouncer-"))
    folder.chmod(0o755)  # pgbouncer drops root (run_as), and that user must read here
    (folder / "userlist.txt").write_text(f'"{user}" ""\n')
    host = str(server.get("host") or "127.0.0.1")
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={host} port={server.get('port') or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\n"
        "pool_mode = transaction\n"
        f"default_pool_size = {SERVER_POOL_SIZE}\nmin_pool_size = 0\nreserve_pool_size = 0\n"
        "max_client_conn = 200\nserver_reset_query =\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    for path in folder.iterdir():
        path.chmod(0o644)
    log = folder / "pgbouncer.log"  # its stderr: the user it drops to may not write in this folder
    with log.open("wb") as output:
        command = [binary, "-u", run_as(host), str(folder / "pgbouncer.ini")]
        process = subprocess.Popen(command, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"pgbouncer did not start: {log.read_text()}") from None
                time.sleep(0.1)
        yield make_conninfo(server_url, host="127.0.0.1", port=port, user=user)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)
