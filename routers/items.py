"""/items: the item catalogue."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Path, Query, Request, Response, status

from core import audit
from core import items as store
from core.auth import ItemWriter, Principal
from core.deps import database, request_context
from core.fast_route import FastRoute
from core.openapi import WRITE, errors
from core.schemas import (
    MAX_ID,
    ItemCreate,
    ItemPage,
    ItemPublic,
    ItemQuery,
    ItemUpdate,
    PlainInt,
)

router = APIRouter(prefix="/items", tags=["items"], route_class=FastRoute)

ItemId = Annotated[PlainInt, Path(ge=1, le=MAX_ID, description="Item id")]
IfMatch = Annotated[
    str | None, Header(max_length=1024, description='ETag from a read, e.g. "3"; 412 if the item changed since')
]
NOT_FOUND = errors(404, e404="No item with that id")
ITEM_WRITE = errors(*WRITE, 404, 412, e404="No item with that id")
MAX_VERSION = 2**31 - 1
_STRONG_TAG = re.compile(r'"(0|[1-9][0-9]{0,17})"', re.ASCII)


def _etag(item: dict[str, Any]) -> str:
    return f'"{item["version"]}"'


def _public(item: dict[str, Any]) -> ItemPublic:
    # The row is valid already (it was validated on the way in): construct, don't re-validate.
    return ItemPublic.model_construct(**item)


def _item_body(item: dict[str, Any]) -> tuple[bytes, str]:
    """The item as JSON, serialised once here instead of by a second response-model pass, and its ETag."""
    return _public(item).model_dump_json().encode(), _etag(item)


def _item_response(body_and_etag: tuple[bytes, str], status_code: int = 200, **headers: str) -> Response:
    """A serialised item with its ETag."""
    body, etag = body_and_etag
    return Response(body, status_code, {"ETag": etag, **headers}, media_type="application/json")


def _versions(if_match: str | None) -> tuple[int, ...] | None:
    """Versions `If-Match` accepts; None for no header or `*`. Weak or malformed tags match nothing."""
    if if_match is None or if_match.strip() == "*":
        return None
    tags = (_STRONG_TAG.fullmatch(tag.strip()) for tag in if_match.split(","))
    # A version beyond the column's range cannot be current: it matches nothing (and never reaches the database).
    return tuple(version for tag in tags if tag and (version := int(tag.group(1))) <= MAX_VERSION)


def _failure(item_id: int, status_code: int) -> HTTPException:
    if status_code == status.HTTP_412_PRECONDITION_FAILED:
        return HTTPException(status_code, "If-Match does not match the item's current ETag")
    return HTTPException(status.HTTP_404_NOT_FOUND, f"Item {item_id} not found")


def _outcome(found: bool, mismatch: bool, if_match: str | None, ok: int) -> int:
    """The status of a conditional write: RFC 9110 makes If-Match on a missing item a 412."""
    if mismatch or (not found and if_match is not None):
        return status.HTTP_412_PRECONDITION_FAILED
    return ok if found else status.HTTP_404_NOT_FOUND


@router.get("", response_model=ItemPage, summary="List items", responses=errors(503))
async def list_items(request: Request, query: Annotated[ItemQuery, Query()]) -> Response:
    """A page of items in id order, with optional filters."""
    db = database(request)
    # One snapshot for the page and its total; a name search scans the table, so it leaves the event loop.
    if query.q:
        body = await db.read(_page_json, query, scan=True)
    else:
        body = await db.cached(_page_json, query, snapshot=True)
    return Response(body, media_type="application/json")


def _page_json(conn, query: ItemQuery) -> bytes:
    filters = {"q": query.q, "in_stock": query.in_stock, "min_price": query.min_price, "max_price": query.max_price}
    rows, total = store.list_items(conn, limit=query.limit, offset=query.offset, **filters)
    items = [_public(row) for row in rows]
    page = ItemPage.model_construct(items=items, total=total, limit=query.limit, offset=query.offset)
    return page.model_dump_json().encode()


@router.get("/{item_id}", response_model=ItemPublic, summary="Read an item", responses=NOT_FOUND)
async def read_item(item_id: ItemId, request: Request) -> Response:
    """One item; its `ETag` is the version for `If-Match`."""
    found = await database(request).cached(_item_json, item_id)
    if found is None:
        raise _failure(item_id, status.HTTP_404_NOT_FOUND)
    return _item_response(found)


def _item_json(conn, item_id: int) -> tuple[bytes, str] | None:
    item = store.get_item(conn, item_id)
    return None if item is None else _item_body(item)


@router.post("", response_model=ItemPublic, status_code=201, summary="Create an item", responses=errors(*WRITE))
async def create_item(body: ItemCreate, user: ItemWriter, request: Request) -> Response:
    """Add an item to the catalogue."""
    ctx = request_context(request)

    def write(conn) -> dict[str, Any]:
        item = store.create_item(conn, body.model_dump())
        audit.record(conn, ctx, actor=user.username, action="item.create", target=str(item["id"]), status_code=201)
        return item

    item = await database(request).write(write)
    return _item_response(_item_body(item), 201, Location=f"/items/{item['id']}")


async def _update(
    request: Request,
    user: Principal,
    item_id: int,
    fields: dict[str, Any],
    if_match: str | None,
    action: str,
) -> Response:
    """Apply a PUT or PATCH; the outcome, success or not, goes to the audit trail."""
    ctx = request_context(request)

    def write(conn) -> tuple[dict[str, Any] | None, int]:
        try:
            item, mismatch = store.update_item(conn, item_id, fields, _versions(if_match)), False
        except store.VersionMismatch:
            item, mismatch = None, True
        code = _outcome(item is not None, mismatch, if_match, status.HTTP_200_OK)
        audit.record(conn, ctx, actor=user.username, action=action, target=str(item_id), status_code=code)
        return item, code

    item, code = await database(request).write(write)
    if code != status.HTTP_200_OK:
        raise _failure(item_id, code)
    return _item_response(_item_body(item))


@router.put("/{item_id}", response_model=ItemPublic, summary="Replace an item", responses=ITEM_WRITE)
async def replace_item(
    item_id: ItemId,
    body: ItemCreate,
    user: ItemWriter,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Replace every field of an item."""
    return await _update(request, user, item_id, body.model_dump(), if_match, "item.replace")


@router.patch("/{item_id}", response_model=ItemPublic, summary="Update an item", responses=ITEM_WRITE)
async def patch_item(
    item_id: ItemId,
    body: ItemUpdate,
    user: ItemWriter,
    request: Request,
    if_match: IfMatch = None,
) -> Response:
    """Change only the fields sent; an empty body changes nothing."""
    fields = body.model_dump(exclude_unset=True)
    return await _update(request, user, item_id, fields, if_match, "item.update")


@router.delete("/{item_id}", status_code=204, summary="Delete an item", responses=ITEM_WRITE)
async def delete_item(item_id: ItemId, user: ItemWriter, request: Request, if_match: IfMatch = None) -> Response:
    """Remove an item."""
    ctx = request_context(request)

    def write(conn) -> int:
        try:
            deleted, mismatch = store.delete_item(conn, item_id, _versions(if_match)), False
        except store.VersionMismatch:
            deleted, mismatch = False, True
        code = _outcome(deleted, mismatch, if_match, status.HTTP_204_NO_CONTENT)
        audit.record(conn, ctx, actor=user.username, action="item.delete", target=str(item_id), status_code=code)
        return code

    code = await database(request).write(write)
    if code != status.HTTP_204_NO_CONTENT:
        raise _failure(item_id, code)
    return Response(status_code=204)


# The trailing-slash forms last: requests for every other route are matched against the routes before it.
router.add_api_route("/", list_items, methods=["GET"], response_model=ItemPage, include_in_schema=False)
router.add_api_route(
    "/", create_item, methods=["POST"], response_model=ItemPublic, status_code=201, include_in_schema=False
)
