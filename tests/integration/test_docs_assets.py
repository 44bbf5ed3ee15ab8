"""/docs and its files: from memory, compressed, and cacheable for as long as their content
holds (the page links each file by a name with its content's hash)."""

from __future__ import annotations

import gzip
import re

from tests.integration.conftest import Api


def test_the_page_links_fingerprinted_files_that_browsers_keep(api: Api) -> None:
    page = api.get("/docs")
    assert page.status_code == 200
    linked = re.findall(r'(?:src|href)="/docs/([^"]+)"', page.text)
    assert {re.sub(r"\.[0-9a-f]{16}\.", ".", name) for name in linked} == {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "docs.js",
    }
    for name in linked:
        plain = api.get(f"/docs/{name}")
        assert plain.status_code == 200
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert plain.headers["etag"]
        assert "content-encoding" not in plain.headers
        squeezed = api.get(f"/docs/{name}", headers={"Accept-Encoding": "gzip, br"})
        assert squeezed.headers["content-encoding"] == "gzip"
        assert squeezed.headers["vary"] == "Accept-Encoding"
        assert gzip.decompress(squeezed.content) == plain.content
        assert len(squeezed.content) < len(plain.content)
        again = api.get(f"/docs/{name}", headers={"If-None-Match": plain.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""


def test_the_plain_names_still_answer_and_revalidate(api: Api) -> None:
    bundle = api.get("/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["cache-control"] == "public, no-cache"
    assert api.get("/docs/swagger-ui-bundle.js", headers={"If-None-Match": bundle.headers["etag"]}).status_code == 304
    assert api.get("/docs/nothing.js").status_code == 404
