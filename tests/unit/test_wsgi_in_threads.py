"""The asyncio front's bridge to the WSGI app (api/serving/asgi.py): the environ PEP 3333 asks for,
the whole response back, and errors raised where the server can answer them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from api.serving.asgi import Message, WsgiInThreads


def echo_environ(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    shown = {key: value for key, value in environ.items() if isinstance(value, str)}
    shown["body"] = environ["wsgi.input"].read().decode()
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Test", "yes")])
    return [json.dumps(shown).encode(), b"\n"]


def serve(app: WsgiInThreads, scope: dict[str, Any], body: bytes = b"") -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def http_scope(**overrides: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/caf\u00e9/x",
        "root_path": "",
        "query_string": b"q=%C3%A9&limit=5",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"2"),
            (b"accept", b"a"),
            (b"accept", b"b"),
            (b"x-request-id", b"abc"),
        ],
        "server": ("127.0.0.1", 3000),
        "client": ("127.0.0.2", 51000),
    }
    scope.update(overrides)
    return scope


def test_the_environ_follows_pep_3333_and_the_whole_response_comes_back() -> None:
    start, body = serve(WsgiInThreads(echo_environ, threads=1), http_scope(), b"{}")
    assert start["status"] == 201
    assert (b"content-type", b"application/json") in start["headers"]
    assert (b"x-test", b"yes") in start["headers"]
    environ = json.loads(body["body"])
    assert environ["REQUEST_METHOD"] == "POST"
    # PATH_INFO carries the path's UTF-8 bytes as latin-1, as WSGI servers hand it over.
    assert environ["PATH_INFO"] == "/caf\u00e9/x".encode().decode("latin-1")
    assert environ["QUERY_STRING"] == "q=%C3%A9&limit=5"
    assert environ["CONTENT_TYPE"] == "application/json"
    assert environ["CONTENT_LENGTH"] == "2"
    assert environ["HTTP_ACCEPT"] == "a,b"
    assert environ["HTTP_X_REQUEST_ID"] == "abc"
    assert environ["REMOTE_ADDR"] == "127.0.0.2"
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["body"] == "{}"


def test_an_error_in_the_app_reaches_the_server() -> None:
    def broken(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        serve(WsgiInThreads(broken, threads=1), http_scope())


def test_the_response_iterable_is_closed() -> None:
    closed: list[bool] = []

    class Body(list[bytes]):
        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response("200 OK", [])
        return Body([b"a", b"b"])

    _, body = serve(WsgiInThreads(app, threads=1), http_scope(method="GET"))
    assert body["body"] == b"ab"
    assert closed == [True]
