"""/items: the item catalogue."""

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from sqlalchemy import Engine

from core import audit
from core import items as store
from core.audit import RequestContext
from core.auth import ItemWriter, Principal
from core.db import read_transaction, write_transaction
from core.deps import EngineDep, RequestContextDep
from core.schemas import MAX_PRICE, ItemCreate, ItemPage, ItemPublic, ItemUpdate

router = APIRouter(prefix="/items", tags=["items"])

ItemId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Item id")]
IfMatch = Annotated[str | None, Header(description="ETag from a previous read; 412 if the item changed")]
NOT_FOUND = {404: {"description": "No item with that id"}}
PRECONDITION = {412: {"description": "The item changed since the ETag in If-Match"}}


def _etag(item: dict[str, Any]) -> str:
    return f'"{item["version"]}"'


def _expected_version(if_match: str | None) -> int | None:
    """Parse `If-Match: "<version>"`; `*` means any version."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit() or len(value) > 18:
        raise _precondition_failed()
    return int(value)


def _precondition_failed() -> HTTPException:
    return HTTPException(status.HTTP_412_PRECONDITION_FAILED, "If-Match does not match the item's ETag")


def _not_found(item_id: int) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Item {item_id} not found")


@router.get("", response_model=ItemPage, summary="List items")
@router.get("/", response_model=ItemPage, include_in_schema=False)
def list_items(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Name contains (case-insensitive)"),
    ] = None,
    in_stock: bool | None = None,
    min_price: Annotated[Decimal | None, Query(ge=0, le=MAX_PRICE, allow_inf_nan=False)] = None,
    max_price: Annotated[Decimal | None, Query(ge=0, le=MAX_PRICE, allow_inf_nan=False)] = None,
) -> dict[str, Any]:
    """A page of items in id order, with optional filters."""
    with read_transaction(engine) as conn:
        rows, total = store.list_items(
            conn,
            limit=limit,
            offset=offset,
            q=q,
            in_stock=in_stock,
            min_price=min_price,
            max_price=max_price,
        )
    return {"items": rows, "total": total, "limit": limit, "offset": offset}


@router.get("/{item_id}", response_model=ItemPublic, summary="Read an item", responses=NOT_FOUND)
def read_item(item_id: ItemId, engine: EngineDep, response: Response) -> dict[str, Any]:
    """One item; its `ETag` is the version for `If-Match`."""
    with read_transaction(engine) as conn:
        item = store.get_item(conn, item_id)
    if item is None:
        raise _not_found(item_id)
    response.headers["ETag"] = _etag(item)
    return item


@router.post("", response_model=ItemPublic, status_code=201, summary="Create an item")
@router.post("/", response_model=ItemPublic, status_code=201, include_in_schema=False)
def create_item(
    body: ItemCreate,
    user: ItemWriter,
    engine: EngineDep,
    ctx: RequestContextDep,
    response: Response,
) -> dict[str, Any]:
    """Add an item to the catalogue."""
    with write_transaction(engine) as conn:
        item = store.create_item(conn, body.model_dump())
        audit.record(
            conn,
            ctx,
            actor=user.username,
            action="item.create",
            target=str(item["id"]),
            status_code=201,
        )
    response.headers["ETag"] = _etag(item)
    response.headers["Location"] = f"/items/{item['id']}"
    return item


def _update(
    engine: Engine,
    ctx: RequestContext,
    user: Principal,
    item_id: int,
    fields: dict[str, Any],
    if_match: str | None,
    action: str,
    response: Response,
) -> dict[str, Any]:
    expected = _expected_version(if_match)
    with write_transaction(engine) as conn:
        try:
            item = store.update_item(conn, item_id, fields, expected)
        except store.VersionMismatch:
            raise _precondition_failed() from None
        if item is None:
            raise _not_found(item_id)
        audit.record(
            conn,
            ctx,
            actor=user.username,
            action=action,
            target=str(item_id),
            status_code=200,
        )
    response.headers["ETag"] = _etag(item)
    return item


@router.put(
    "/{item_id}",
    response_model=ItemPublic,
    summary="Replace an item",
    responses=NOT_FOUND | PRECONDITION,
)
def replace_item(
    item_id: ItemId,
    body: ItemCreate,
    user: ItemWriter,
    engine: EngineDep,
    ctx: RequestContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Replace every field of an item."""
    return _update(
        engine,
        ctx,
        user,
        item_id,
        body.model_dump(),
        if_match,
        "item.replace",
        response,
    )


@router.patch(
    "/{item_id}",
    response_model=ItemPublic,
    summary="Update an item",
    responses=NOT_FOUND | PRECONDITION,
)
def patch_item(
    item_id: ItemId,
    body: ItemUpdate,
    user: ItemWriter,
    engine: EngineDep,
    ctx: RequestContextDep,
    response: Response,
    if_match: IfMatch = None,
) -> dict[str, Any]:
    """Change only the fields sent."""
    fields = body.model_dump(exclude_unset=True)
    return _update(engine, ctx, user, item_id, fields, if_match, "item.update", response)


@router.delete(
    "/{item_id}",
    status_code=204,
    summary="Delete an item",
    responses=NOT_FOUND | PRECONDITION,
)
def delete_item(
    item_id: ItemId,
    user: ItemWriter,
    engine: EngineDep,
    ctx: RequestContextDep,
    if_match: IfMatch = None,
) -> Response:
    """Remove an item."""
    expected = _expected_version(if_match)
    with write_transaction(engine) as conn:
        try:
            deleted = store.delete_item(conn, item_id, expected)
        except store.VersionMismatch:
            raise _precondition_failed() from None
        if not deleted:
            raise _not_found(item_id)
        audit.record(
            conn,
            ctx,
            actor=user.username,
            action="item.delete",
            target=str(item_id),
            status_code=204,
        )
    return Response(status_code=204)
