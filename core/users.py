"""User storage."""

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from core.db import users, utcnow
from core.prepared import Prepared

_GET_USER = Prepared(select(users).where(users.c.username == bindparam("username")))


class UserExists(Exception):
    """A user with that name exists already."""


def _to_public(data: dict[str, Any]) -> dict[str, Any]:
    data["scopes"] = data["scopes"].split()
    return data


def get_user(conn: Connection, username: str) -> dict[str, Any] | None:
    """Return a user with the password hash, or None."""
    row = _GET_USER.first(conn, {"username": username})
    return _to_public(row) if row else None


def list_users(conn: Connection) -> list[dict[str, Any]]:
    """Every user, by name."""
    return [_to_public(dict(row._mapping)) for row in conn.execute(select(users).order_by(users.c.username))]


def create_user(conn: Connection, username: str, password_hash: str | None, scopes: list[str]) -> dict[str, Any]:
    """Insert a user; UserExists if the name is taken."""
    try:
        with conn.begin_nested():
            conn.execute(
                users.insert().values(
                    username=username,
                    password_hash=password_hash,
                    scopes=" ".join(sorted(set(scopes))),
                    disabled=False,
                    created_at=utcnow(),
                )
            )
    except IntegrityError as exc:
        raise UserExists(username) from exc
    return get_user(conn, username)


def update_user(conn: Connection, username: str, changes: dict[str, Any]) -> dict[str, Any] | None:
    """Change scopes, disabled flag or password hash; None if the user is missing."""
    values = dict(changes)
    if "scopes" in values:
        values["scopes"] = " ".join(sorted(set(values["scopes"])))
    if values:
        conn.execute(users.update().where(users.c.username == username).values(**values))
    return get_user(conn, username)


def delete_user(conn: Connection, username: str) -> bool:
    """Remove a user; False if there was none."""
    return conn.execute(users.delete().where(users.c.username == username)).rowcount > 0
