"""Schemathesis against the OpenAPI document: generated requests, real answers, checked.

Bounded (a few examples per operation, derandomized: the same requests every run) so it stays a
test, not a fuzzing campaign. Every check of the answers runs — no server error, every status
documented, the declared content type, schema and headers, and malformed input refused — except
``positive_data_acceptance``: the document cannot say everything a planning model requires
(that a cube's dimensions exist, that a name holds no invisible character), so a request valid by
the schema may rightly be refused.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from server.app import create_app
from tests.signin import bearer, token_for

# One app for all generated cases: its workspace started once (not per request).
app = create_app(Path(tempfile.mkdtemp(prefix="plancube-schemathesis-")) / "st.duckdb")
app.state.workspace.start()


@asynccontextmanager
async def _started(_: Any) -> AsyncIterator[None]:
    yield


app.router.lifespan_context = _started
# generated requests are a server admin's (the most any caller may reach); unsigned ones are
# tests.server.test_guards'
ADMIN = bearer(token_for(app.state.workspace.store, "admin", server_admin=True))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
# binary import bodies (server.api.imports): a zip or Parquet signature, then anything
for media, magic in (
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK\x03\x04"),
    ("application/vnd.apache.parquet", b"PAR1"),
):
    schemathesis.openapi.media_type(media, st.binary(max_size=64).map(lambda b, m=magic: m + b))


@schema.parametrize()
@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_answers_as_documented(case: Any) -> None:
    case.call_and_validate(headers=ADMIN, excluded_checks=[positive_data_acceptance])
