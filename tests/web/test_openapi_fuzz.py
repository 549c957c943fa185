"""Schemathesis against GET /api/openapi.json: no 5xx, and every response conforms to the document.

Each operation runs a bounded number of generated requests (MAX_EXAMPLES) as one signed-up user, so
the suite stays well under a minute; path user ids are that user's, other fields are generated.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from web.openapi.operations import OPERATIONS

MAX_EXAMPLES = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def fuzz_user(auth):
    return auth.register("fuzz@example.com")


# Not schemathesis.pytest.from_fixture: its parametrization breaks on this pytest (no Function._nodeid),
# so each operation is a plain parametrized test that runs the operation's hypothesis strategy.
@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_the_api_conforms_to_its_document(app, fuzz_user, operation_id):
    operation = schemathesis.openapi.from_wsgi("/api/openapi.json", app).find_operation_by_id(operation_id)

    @given(case=operation.as_strategy())
    @hypothesis_settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    def call(case):
        if "user_id" in (case.path_parameters or {}):
            case.path_parameters["user_id"] = fuzz_user.user_id
        token = fuzz_user.refresh_token if operation_id == "auth.refresh" else fuzz_user.access_token
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        case.call_and_validate(checks=CHECKS)

    call()
