"""Schemathesis against the served API: for every documented operation, generated requests
(valid and invalid, a bounded number each) with a fresh ORG_ADMIN's token. No answer may be
a 5xx, and every answer must match its documented status, content type, headers and schema.
Schema-invalid requests must be refused. Schema-valid ones may still be refused (the check
positive_data_acceptance is off): names, emails and descriptions have rules JSON Schema
cannot state (trimmed, NFC, no invisible characters, an email's syntax), enforced with a 422.

The app runs on its own event loop in a real server: schemathesis would drive an in-process
ASGI app from a loop of its own, which the app's connection pool does not belong to.
(schemathesis.pytest.from_fixture does not run under pytest 9, so the operations are walked
here and each one's cases come from its Hypothesis strategy.)"""

from __future__ import annotations

import traceback
import uuid
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.acceptance.conftest import Server, register

pytestmark = pytest.mark.gunicorn

# Examples per operation: about 1,600 requests in all over 45 operations, some 25 s on a
# 2-core machine (50 took 37 s, too much of the suite's 10 minutes).
EXAMPLES = 35


def fuzz(operation: APIOperation[Any, Any, Any, Any], token: str, examples: int = EXAMPLES) -> None:
    """Raises (an exception group of schemathesis failures) when the operation breaks its contract."""
    headers = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

    check()


def fresh_admin(url: str) -> str:
    """Its own user and organization: logging out or changing the password cannot spoil the
    token of the next operation."""
    email = f"fuzz-{uuid.uuid4().hex[:10]}@example.com"
    token: str = register(url, email, "fuzzing password 123", "Fuzzed")["access_token"]
    return token


def fuzz_every_operation(url: str, examples: int = EXAMPLES) -> None:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    failures: dict[str, str] = {}
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # an invalid document raises here
        operations += 1
        try:
            fuzz(operation, fresh_admin(url), examples)
        except BaseException as exc:  # every operation runs; all failures are shown at once
            if not isinstance(exc, Exception | BaseExceptionGroup):
                raise
            failures[operation.label] = "".join(traceback.format_exception_only(exc))
    assert operations >= 30
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())


def test_every_operation_keeps_its_contract(server: Server) -> None:
    fuzz_every_operation(server.url)
