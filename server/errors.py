"""One exception hierarchy for the server, and the one JSON shape every error is rendered in.

Every error a client can see is a ``PlancubeError`` subclass with an HTTP status and a stable
``code`` on the class, a human message, and structured ``details`` naming what was wrong (the
element, the cell, the row). The handler renders::

    {"error": {"code": "element_not_found", "message": "...", "details": {...}}}

Engine exceptions are translated here too, so services can let them through unchanged. A body
that is not valid JSON is 400 ``invalid_json`` naming what is wrong and where. Anything else that
escapes is a bug: it is logged with an incident id and answered 500 ``internal_error`` in the
same shape, with the incident id and nothing of the exception.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from calc_engine import errors as engine_errors
from server.responses import Json

log = logging.getLogger("plancube.errors")


class PlancubeError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}

    def headers(self) -> dict[str, str]:
        """HTTP headers the answer carries besides the body (``Retry-After``, say)."""
        return {}


class BadRequest(PlancubeError):
    status = 400
    code = "bad_request"


class ClientGone(BadRequest):
    """The client hung up before its body arrived whole (nobody reads the answer)."""

    code = "client_disconnected"


class InvalidJson(BadRequest):
    code = "invalid_json"


class InvalidYaml(BadRequest):
    code = "invalid_yaml"


class HostNotAllowed(BadRequest):
    """The ``Host`` header names a host the server is not configured to answer to
    (``server.hosts``: a page on another name, or DNS rebinding)."""

    code = "host_not_allowed"


class Forbidden(PlancubeError):
    status = 403
    code = "forbidden"


class WriteForbidden(Forbidden):
    """Cells the caller may read but not change (element security, ``server.access``)."""

    code = "write_forbidden"


class CsrfFailed(Forbidden):
    """A change sent with a session cookie but without the session's CSRF token."""

    code = "csrf_failed"


class SignInRequired(PlancubeError):
    """No credentials, or credentials that no longer hold (an expired session, a revoked
    token). ``WWW-Authenticate`` says how to sign in."""

    status = 401
    code = "sign_in_required"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="plancube"'}


class OriginNotAllowed(Forbidden):
    """A browser page of another origin asked for a change, or to open the live feed
    (``server.origins``)."""

    code = "origin_not_allowed"


class UnsupportedMediaType(PlancubeError):
    """A body of a content type the operation does not read (``server.api.route``)."""

    status = 415
    code = "unsupported_media_type"


class InternalError(PlancubeError):
    status = 500
    code = "internal_error"


class NotFound(PlancubeError):
    status = 404
    code = "not_found"


class ModelNotFound(NotFound):
    code = "model_not_found"


class DimensionNotFound(NotFound):
    code = "dimension_not_found"


class ElementNotFound(NotFound):
    code = "element_not_found"


class CubeNotFound(NotFound):
    code = "cube_not_found"


class CommitNotFound(NotFound):
    code = "commit_not_found"


class SnapshotNotFound(NotFound):
    code = "snapshot_not_found"


class StoreNotFound(NotFound):
    """A command that only reads was pointed at a database file that does not exist."""

    code = "store_not_found"


class AlreadyExists(PlancubeError):
    status = 409
    code = "already_exists"


class InUse(PlancubeError):
    """The thing is referenced (a dimension by a cube, an element by stored cells)."""

    status = 409
    code = "in_use"


class StoreInUse(PlancubeError):
    """Another process (a server, usually) holds the DuckDB file."""

    status = 409
    code = "store_in_use"


class ModelUnavailable(PlancubeError):
    """The model is stored but could not be loaded at start-up; delete it or import it again."""

    status = 409
    code = "model_unavailable"


class BodyTooLarge(PlancubeError):
    status = 413
    code = "body_too_large"


class WriteConflict(PlancubeError):
    status = 409
    code = "write_conflict"


class StorageUnavailable(PlancubeError):
    """The database cannot be reached, or did not answer in time: retry after ``retry_after``.

    ``details.written`` says what became of a write: ``false`` when it surely was not stored,
    ``null`` when the connection broke while the commit was being confirmed (it may have been;
    docs/operations.md says why re-sending it is safe).
    """

    status = 503
    code = "storage_unavailable"
    retry_after = 2  # seconds: a restarted PostgreSQL accepts connections again within a few

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class StorageFull(PlancubeError):
    """The database's disk (or a file size limit) has no room for the write; nothing was stored."""

    status = 507
    code = "storage_full"


class Unprocessable(PlancubeError):
    status = 422
    code = "invalid"


class BaseCommitAhead(Unprocessable):
    """A base commit after the model's head: the client claims to have seen the future."""

    code = "base_commit_ahead"


class InvalidValue(Unprocessable):
    code = "invalid_value"


class NotWritable(Unprocessable):
    code = "cell_not_writable"


class InvalidModel(Unprocessable):
    code = "invalid_model"


class InvalidExpression(Unprocessable):
    code = "invalid_expression"


class InvalidRule(Unprocessable):
    code = "invalid_rule"


class RuleCycle(Unprocessable):
    code = "rule_cycle"


class FeedLimit(Unprocessable):
    """A live-feed socket would watch more subscriptions, or more cells, than the limit allows."""

    code = "feed_limit"


class CubeTooLarge(Unprocessable):
    """A structure change would give a cube more cell addresses than the limit allows."""

    code = "cube_too_large"


class ExportTooLarge(Unprocessable):
    """An export would write more cells than the limit allows (``PLANCUBE_MAX_EXPORT_CELLS``)."""

    code = "export_too_large"


def from_engine(exc: engine_errors.EngineError) -> PlancubeError:
    """The server error a client should see for an engine exception."""
    if isinstance(exc, engine_errors.UnknownElementError):
        return ElementNotFound(str(exc), dimension=exc.dimension, element=exc.element)
    if isinstance(exc, engine_errors.UnknownDimensionError):
        return DimensionNotFound(str(exc), dimension=exc.dimension)
    if isinstance(exc, engine_errors.UnknownCubeError):
        return CubeNotFound(str(exc), cube=exc.cube)
    if isinstance(exc, engine_errors.NotALeafError):
        return NotWritable(str(exc), dimension=exc.dimension, element=exc.element)
    if isinstance(exc, engine_errors.RuleSyntaxError):
        return InvalidRule(
            str(exc) if exc.rule is None else f"rule {exc.rule!r}: {exc}",
            rule=exc.rule,
            formula=exc.formula,
            position=exc.position,
            reason=exc.reason,
        )
    if isinstance(exc, engine_errors.RuleCycleError):
        return RuleCycle(str(exc), rules=exc.rules)
    if isinstance(exc, engine_errors.RuleCellError):
        return NotWritable(str(exc), elements=exc.elements, rule=exc.rule)
    if isinstance(exc, engine_errors.HierarchyCycleError):
        return InvalidModel(str(exc), dimension=exc.dimension, cycle=exc.cycle)
    return Unprocessable(str(exc))


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(PlancubeError)
    async def _plancube(_: Request, exc: PlancubeError) -> Json:
        return Json(exc.body(), status_code=exc.status, headers=exc.headers() or None)

    @app.exception_handler(engine_errors.EngineError)
    async def _engine(_: Request, exc: engine_errors.EngineError) -> Json:
        err = from_engine(exc)
        return Json(err.body(), status_code=err.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Json:
        bad_json = next((e for e in exc.errors() if e.get("type") == "json_invalid"), None)
        if bad_json is not None:
            reason = (bad_json.get("ctx") or {}).get("error", "JSON decode error")
            at = list(bad_json.get("loc", ()))[-1]
            syntax = InvalidJson(
                f"the body is not valid JSON: {reason} (at character {at})", position=at
            )
            return Json(syntax.body(), status_code=syntax.status)
        problems = [
            {"location": list(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type")}
            for e in exc.errors()
        ]
        first = problems[0] if problems else {"location": [], "message": "invalid request"}
        where = ".".join(str(p) for p in first["location"])
        err = Unprocessable(f"invalid request at {where}: {first['message']}", problems=problems)
        return Json(err.body(), status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Json:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        body = {"error": {"code": code, "message": str(exc.detail), "details": {}}}
        headers = exc.headers
        if exc.status_code == 405:  # name every method the path allows, as HTTP asks
            headers = {
                **(headers or {}),
                "Allow": _allowed(request) or (headers or {}).get("Allow", ""),
            }
        return Json(body, status_code=exc.status_code, headers=headers)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, exc: ClientDisconnect) -> Json:
        # the client hung up while sending its body (Ctrl+C in an upload): nothing to answer,
        # nothing was written, and it is not the server's fault
        log.warning(
            "%s %s: the client disconnected before its body arrived",
            request.method,
            request.url.path,
        )
        err = ClientGone("the request's body did not arrive whole; nothing was written")
        return Json(err.body(), status_code=err.status)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Json:
        incident = uuid.uuid4().hex[:12]
        log.error(
            "incident %s: %s %s failed", incident, request.method, request.url.path, exc_info=exc
        )
        err = InternalError(
            f"internal server error (incident {incident}); the server log has the details",
            incident=incident,
        )
        return Json(err.body(), status_code=err.status)


_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _allowed(request: Request) -> str:
    """The methods the OpenAPI document lists for the request's path (Starlette names only
    the first route it met)."""
    from starlette.routing import compile_path

    routes = getattr(request.app.state, "allowed_methods", None)
    if routes is None:
        paths = request.app.openapi().get("paths", {})
        routes = [
            (path.count("{"), compile_path(path)[0], [m.upper() for m in ops if m in _METHODS])
            for path, ops in paths.items()
        ]
        request.app.state.allowed_methods = routes
    # the most specific paths that match: /api/models/import, not also /api/models/{model}
    matches = [
        (params, methods) for params, regex, methods in routes if regex.match(request.url.path)
    ]
    fewest = min((params for params, _ in matches), default=0)
    return ", ".join(
        sorted({m for params, methods in matches if params == fewest for m in methods})
    )


# -- local accounts (server.auth.accounts) -------------------------------------------------------


class _RetryLater(PlancubeError):
    """Refused for now: ``details.retry_after`` seconds, also sent as ``Retry-After``."""

    status = 429

    def __init__(self, message: str, retry_after: float, **details: Any) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(message, retry_after=self.retry_after, **details)

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class SignInFailed(PlancubeError):
    """A user name and password that do not sign in. One message for every reason (no such
    user, wrong password, disabled, no password set), so an answer never tells a guesser
    which names exist; the audit log has the reason."""

    status = 401
    code = "sign_in_failed"


class AccountLocked(_RetryLater):
    """Too many failed passwords for the account in a short time: no password is checked for it
    until ``retry_after`` seconds have passed."""

    code = "account_locked"


class SignInRateLimited(_RetryLater):
    """Too many sign-in attempts from one client (address), whatever the accounts."""

    code = "sign_in_rate_limited"


class UserExists(AlreadyExists):
    code = "user_exists"


class UserNotFound(NotFound):
    code = "user_not_found"


class UserDisabled(Forbidden):
    """The account is disabled: nothing new (a session, a token) is made for it."""

    code = "user_disabled"


class TokenNotFound(NotFound):
    """No personal access token of that id belongs to the user."""

    code = "token_not_found"


class TokenNameTaken(AlreadyExists):
    """The user has a live (neither revoked nor expired) token of that name."""

    code = "token_name_taken"


class InvalidUserName(Unprocessable):
    code = "invalid_user_name"


class InvalidEmail(Unprocessable):
    code = "invalid_email"


class WeakPassword(Unprocessable):
    code = "weak_password"


class InvalidTokenExpiry(Unprocessable):
    code = "invalid_token_expiry"
