"""Item storage: plain functions over one connection."""

from collections.abc import Collection
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection

from core.db import items, utcnow
from core.prepared import Prepared

CENTS = Decimal(100)
_PUBLIC = [c for c in items.c if c.name != "name_folded"]
# Built once: SQLAlchemy then reuses its compiled form and cache key on every call.
_GET_ITEM = Prepared(select(*_PUBLIC).where(items.c.id == bindparam("item_id")))
_PAGE = select(*_PUBLIC).order_by(items.c.id).limit(bindparam("limit")).offset(bindparam("offset"))
_COUNT = select(func.count()).select_from(items)
_INSERT_COLUMNS = ("name", "name_folded", "price_cents", "in_stock", "version", "created_at", "updated_at")
_INSERT = Prepared(items.insert().values({name: bindparam(name) for name in _INSERT_COLUMNS}).returning(*_PUBLIC))


@lru_cache(maxsize=64)
def _update_statement(columns: tuple[str, ...], conditional: bool) -> Prepared:
    """UPDATE ... RETURNING for one set of changed columns, built once per set."""
    statement = items.update().where(items.c.id == bindparam("b_id"))
    if conditional:
        statement = statement.where(items.c.version.in_(bindparam("b_versions", expanding=True)))
    values = {name: bindparam(f"b_{name}") for name in columns}
    values |= {"version": items.c.version + 1, "updated_at": bindparam("b_updated_at")}
    return Prepared(statement.values(values).returning(*_PUBLIC))


class VersionMismatch(Exception):
    """The item exists, but its version is not one the client named in `If-Match`."""


def _to_public(data: dict[str, Any]) -> dict[str, Any]:
    data["price"] = Decimal(data.pop("price_cents")) / CENTS
    return data


def _to_columns(fields: dict[str, Any]) -> dict[str, Any]:
    columns = dict(fields)
    if "price" in columns:
        columns["price_cents"] = int(columns.pop("price") * CENTS)
    if "name" in columns:
        columns["name_folded"] = columns["name"].casefold()
    return columns


def _like_pattern(text: str) -> str:
    """`%text%` with LIKE's wildcards in `text` matched literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def get_item(conn: Connection, item_id: int) -> dict[str, Any] | None:
    """Return one item, or None."""
    row = _GET_ITEM.first(conn, {"item_id": item_id})
    return _to_public(row) if row else None


def list_items(
    conn: Connection,
    *,
    limit: int,
    offset: int,
    q: str | None = None,
    in_stock: bool | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of items in id order, and the total that match the filters."""
    conditions = []
    if q:
        conditions.append(items.c.name_folded.like(_like_pattern(q.casefold()), escape="\\"))
    if in_stock is not None:
        conditions.append(items.c.in_stock == in_stock)
    if min_price is not None:
        conditions.append(items.c.price_cents >= int(min_price * CENTS))
    if max_price is not None:
        conditions.append(items.c.price_cents <= int(max_price * CENTS))
    page, total = (_PAGE.where(*conditions), _COUNT.where(*conditions)) if conditions else (_PAGE, _COUNT)
    rows = conn.execute(page, {"limit": limit, "offset": offset}).all()
    return [_to_public(dict(row._mapping)) for row in rows], conn.execute(total).scalar_one()


def create_item(conn: Connection, fields: dict[str, Any]) -> dict[str, Any]:
    """Insert an item and return it."""
    now = utcnow()
    values = _to_columns(fields) | {"version": 1, "created_at": now, "updated_at": now}
    return _to_public(_INSERT.first(conn, values))


def _check_version(item: dict[str, Any] | None, versions: Collection[int] | None) -> None:
    if item is not None and versions is not None and item["version"] not in versions:
        raise VersionMismatch


def update_item(
    conn: Connection, item_id: int, fields: dict[str, Any], versions: Collection[int] | None = None
) -> dict[str, Any] | None:
    """Change the given fields; None if the item is missing, VersionMismatch if its version is not in `versions`."""
    if not fields:  # nothing to change: not a write, the version stays
        item = get_item(conn, item_id)
        _check_version(item, versions)
        return item
    columns = _to_columns(fields)
    statement = _update_statement(tuple(sorted(columns)), versions is not None)
    params = {f"b_{name}": value for name, value in columns.items()} | {"b_id": item_id, "b_updated_at": utcnow()}
    if versions is not None:
        params["b_versions"] = list(versions)
    row = statement.first(conn, params)
    if row is None:
        _check_version(get_item(conn, item_id), versions)
        return None
    return _to_public(row)


def delete_item(conn: Connection, item_id: int, versions: Collection[int] | None = None) -> bool:
    """Delete an item; False if it is missing, VersionMismatch if its version is not in `versions`."""
    condition = items.c.id == item_id
    if versions is not None:
        condition &= items.c.version.in_(versions)
    if conn.execute(items.delete().where(condition)).rowcount == 0:
        _check_version(get_item(conn, item_id), versions)
        return False
    return True
