"""A route class that answers well-formed requests from a plan worked out once, instead of per request."""

import copy
import inspect
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request, Response, params
from fastapi._body_limit import MAX_BODY_SIZE_SCOPE_KEY, get_body_limit_error, wrap_app_with_body_limit
from fastapi._compat import ModelField, Undefined, field_annotation_is_sequence
from fastapi.dependencies.models import Dependant, _is_async_gen_callable, _is_coroutine_callable, _is_gen_callable
from fastapi.dependencies.utils import (
    _get_oauth_scopes,
    _get_param_aliases,
    _get_param_model,
    _validate_value_with_model_field,
    get_cached_model_fields,
)
from fastapi.routing import APIRoute, request_response
from fastapi.security import SecurityScopes
from fastapi.telemetry import get_telemetry_data
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

JSON = "application/json"


@dataclass(frozen=True)
class Param:
    """A path, header or query-model parameter: the argument, its field and the request key it is read from."""

    name: str
    field: ModelField
    alias: str
    source: str  # "path", "header", or "query" (a field of a query model)


@dataclass(frozen=True)
class QueryModel:
    """A model of query parameters (`Annotated[Model, Query()]`) and the keys of its fields."""

    name: str
    field: ModelField
    keys: tuple[str, ...]


@dataclass(frozen=True)
class SecurityDependency:
    """A dependency called as `call(request=..., security_scopes=...)`."""

    name: str
    call: Callable[..., Any]
    request_arg: str | None
    scopes_arg: str | None
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """What a route's endpoint takes, resolved once."""

    endpoint: Callable[..., Any]
    request_arg: str | None
    dependencies: tuple[SecurityDependency, ...]
    params: tuple[Param, ...]
    query: QueryModel | None
    body: ModelField | None


def _takes_special(dependant: Dependant) -> bool:
    """Whether the callable takes a WebSocket, an HTTPConnection, the Response or BackgroundTasks."""
    return any(
        (
            dependant.websocket_param_name,
            dependant.http_connection_param_name,
            dependant.response_param_name,
            dependant.background_tasks_param_name,
        )
    )


def _only_request_and_scopes(dependant: Dependant) -> bool:
    fields = (dependant.path_params, dependant.query_params, dependant.header_params, dependant.cookie_params)
    return not any(fields) and not (dependant.body_params or dependant.dependencies or _takes_special(dependant))


def _security_dependency(dependant: Dependant) -> SecurityDependency | None:
    call = dependant.call
    if dependant.name is None or not _is_coroutine_callable(call) or dependant.concurrency is not None:
        return None
    if _is_gen_callable(call) or _is_async_gen_callable(call) or not _only_request_and_scopes(dependant):
        return None
    scopes = tuple(_get_oauth_scopes(dependant=dependant))
    scopes_arg = dependant.security_scopes_param_name
    return SecurityDependency(dependant.name, call, dependant.request_param_name, scopes_arg, scopes)


def _param(field: ModelField, source: str) -> Param | None:
    if _get_param_model(field) is not None or field_annotation_is_sequence(field.field_info.annotation):
        return None
    aliases = _get_param_aliases(field)
    return Param(field.name, field, aliases[0][1], source) if len(aliases) == 1 else None


def _query_model(fields: list[ModelField]) -> QueryModel | bool | None:
    """The route's query model; None without query parameters; False for query parameters the plan leaves out."""
    if not fields:
        return None
    model = _get_param_model(fields[0]) if len(fields) == 1 else None
    # Only a plain model that ignores unknown keys: then its fields' own keys are all that matter.
    if model is None or fields[0].field_info.annotation is not model:
        return False
    if model.model_config.get("extra", "ignore") != "ignore":
        return False
    keys = [_param(model_field, "query") for model_field in get_cached_model_fields(model)]
    if None in keys:
        return False
    return QueryModel(fields[0].name, fields[0], tuple(key.alias for key in keys))  # type: ignore[union-attr]


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    returned = typing.get_type_hints(endpoint).get("return")
    return inspect.isclass(returned) and issubclass(returned, Response)


def make_plan(route: APIRoute) -> Plan | None:
    """The route's plan, or None if it takes anything the plan does not cover (then FastAPI handles it all)."""
    dependant = route.dependant
    if not _is_coroutine_callable(route.endpoint) or not _returns_response(route.endpoint):
        return None
    if dependant.cookie_params or dependant.security_scopes_param_name or _takes_special(dependant):
        return None
    if len(dependant.body_params) > 1:
        return None
    body = route.body_field
    if body is not None and (route._embed_body_fields or isinstance(body.field_info, params.Form)):
        return None
    dependencies = tuple(_security_dependency(sub) for sub in dependant.dependencies)
    fields = [(field, "path") for field in dependant.path_params]
    fields += [(field, "header") for field in dependant.header_params]
    found = tuple(_param(field, source) for field, source in fields)
    query = _query_model(dependant.query_params)
    if None in dependencies or None in found or query is False:
        return None
    return Plan(route.endpoint, dependant.request_param_name, dependencies, found, query, body)  # type: ignore[arg-type]


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` with the body that was already read handed out again first."""
    pending = True

    async def replayed() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


class FastRoute(APIRoute):
    """An APIRoute that answers requests whose values all validate without FastAPI's per-request solving.

    FastAPI 0.165 re-inspects every parameter's type on each request: for a write with a body, a header and a
    bearer dependency that is about a third of the request's time. For routes that take only path and header
    values, one query model, one JSON body, `Request` and dependencies of `(request, security_scopes)`, and that
    return a `Response`, the plan is worked out once. Anything else (a value that fails validation, a body that
    is not `application/json`, dependency overrides, OpenTelemetry on) goes to FastAPI's own handler, so every
    error answer, and the OpenAPI document, stay FastAPI's.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, endpoint, **kwargs)
        self.plan = make_plan(self)
        self.standard_app = self.app
        if self.plan is not None:
            self.app = self.planned_app

    def for_app(self, app: Any) -> "FastRoute":
        """A copy of this route for `app`, applying its `dependency_overrides` as include_router's copies do."""
        route = copy.copy(self)
        route.dependency_overrides_provider = app
        route.standard_app = wrap_app_with_body_limit(request_response(route.get_route_handler()), route.max_body_size)
        route.app = route.standard_app if route.plan is None else route.planned_app
        return route

    def _overridden(self) -> bool:
        provider = self.dependency_overrides_provider
        return bool(provider and getattr(provider, "dependency_overrides", None))

    async def planned_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the plan, or hand the request to FastAPI's handler."""
        plan: Plan = self.plan  # type: ignore[assignment]
        if self._overridden() or get_telemetry_data() is not None:
            await self.standard_app(scope, receive, send)
            return
        request = Request(scope, receive, send)
        json_body: Any = Undefined
        replayed = receive
        if plan.body is not None:
            body = await self._read_body(request)
            replayed = _replay(body, receive)
            if not body or request.headers.get("content-type") != JSON:
                await self.standard_app(scope, replayed, send)
                return
            try:
                json_body = json.loads(body)
            except Exception:  # noqa: BLE001 - FastAPI's handler answers it, as without the plan
                await self.standard_app(scope, replayed, send)
                return
        values = await self._solve(plan, request, json_body)
        if values is None:  # FastAPI's handler reports the validation errors
            await self.standard_app(scope, replayed, send)
            return
        response = await plan.endpoint(**values)
        await response(scope, receive, send)

    @staticmethod
    async def _read_body(request: Request) -> bytes:
        """The body, with FastAPI's answers to failures while reading it."""
        try:
            return await request.body()
        except HTTPException:
            raise
        except Exception as exc:
            if MAX_BODY_SIZE_SCOPE_KEY in request.scope and (error := get_body_limit_error(exc)):
                raise error from exc
            raise HTTPException(400, "There was an error parsing the body") from exc

    @staticmethod
    async def _solve(plan: Plan, request: Request, json_body: Any) -> dict[str, Any] | None:
        """The endpoint's arguments in FastAPI's order (dependencies, path, headers, query, body); None on errors."""
        values: dict[str, Any] = {}
        for dependency in plan.dependencies:
            kwargs: dict[str, Any] = {}
            if dependency.request_arg:
                kwargs[dependency.request_arg] = request
            if dependency.scopes_arg:
                kwargs[dependency.scopes_arg] = SecurityScopes(list(dependency.scopes))
            values[dependency.name] = await dependency.call(**kwargs)
        path_params, headers = request.scope["path_params"], request.headers
        for param in plan.params:
            raw = (path_params if param.source == "path" else headers).get(param.alias)
            value = Undefined if raw is None else raw
            loc = (param.source, param.alias)
            value, errors = _validate_value_with_model_field(field=param.field, value=value, values=values, loc=loc)
            if errors:
                return None
            values[param.name] = value
        if plan.query is not None:
            query_params = request.query_params
            received = {key: value for key in plan.query.keys if (value := query_params.get(key)) is not None}
            value, errors = _validate_value_with_model_field(
                field=plan.query.field, value=received, values=values, loc=("query",)
            )
            if errors:
                return None
            values[plan.query.name] = value
        if plan.body is not None:
            body = plan.body
            value, errors = _validate_value_with_model_field(field=body, value=json_body, values=values, loc=("body",))
            if errors:
                return None
            values[body.name] = value
        if plan.request_arg:
            values[plan.request_arg] = request
        return values
