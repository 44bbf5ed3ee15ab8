"""GET /docs in a real browser: headless Chromium loads the page from the running server,
under its Content-Security-Policy and with no network beyond loopback, and renders every
operation of /openapi.json. `.ci/run` installs Debian's chromium where it is missing; without
one the test is skipped with a loud reason, except in CI (CI=true), where that is a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import urllib.request

import pytest

from tests.acceptance.conftest import Server

pytestmark = pytest.mark.gunicorn

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    message = "no Chromium found (apt-get install chromium): the /docs page test did not run"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI must run it)")
    pytest.skip(message)


def rendered(browser: str, url: str) -> tuple[str, str]:
    """The page's DOM once its scripts have run, and the browser's console log."""
    done = subprocess.run(
        [
            browser,
            *("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"),
            # Only loopback is reachable: a CDN reference would fail to load.
            "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=127.0.0.1",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout, done.stderr


def test_the_docs_page_renders_every_operation_offline_under_its_csp(server: Server) -> None:
    with urllib.request.urlopen(f"{server.url}/docs", timeout=10) as response:  # noqa: S310
        policy = response.headers["Content-Security-Policy"]
        page = response.read().decode()
    assert "script-src 'self'" in policy
    assert "default-src 'none'" in policy
    assert "<script>" not in page  # no inline script: the policy would refuse it
    assert "https://" not in page  # nothing from elsewhere

    dom, console = rendered(chromium(), f"{server.url}/docs")
    with urllib.request.urlopen(f"{server.url}/openapi.json", timeout=10) as response:  # noqa: S310
        documented = set(json.load(response)["paths"])
    shown = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert shown == documented
    assert "Create a project" in dom
    assert "Refused to" not in console, console  # Chromium's words for a CSP violation
