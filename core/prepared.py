"""Statements compiled once and run on the DBAPI cursor, for the hottest SQLite paths."""

from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter


def _bind(bind: BindParameter, dialect: Dialect) -> tuple[str, bool, Any, Any]:
    # A bind with a value of its own (the 1 of `version + 1`) is not in the caller's parameters.
    return bind.key, bind.required, bind.value, bind.type.dialect_impl(dialect).bind_processor(dialect)


class Prepared:
    """A Core statement run with SQLAlchemy's own SQL, bind and result conversions, minus its per-call bookkeeping.

    On SQLite that bookkeeping (execution context, result metadata, events) costs several times the statement
    itself. Other dialects, and statements with expanding parameters, go through `conn.execute` unchanged.
    """

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: tuple | None = None  # compiled on first use; () when it must stay with SQLAlchemy

    def _compile(self, conn: Connection) -> tuple:
        if conn.dialect.name != "sqlite":
            return ()
        if self._compiled is None:
            self._compiled = self._compile_for(conn.dialect)
        return self._compiled

    def _compile_for(self, dialect: Dialect) -> tuple:
        compiled = self.statement.compile(dialect=dialect)
        if any(bind.expanding for bind in compiled.binds.values()):
            return ()  # IN lists are rendered per call: leave them to SQLAlchemy
        binds = [_bind(compiled.binds[name], dialect) for name in compiled.positiontup]
        columns = [
            (c.key, c.type.dialect_impl(dialect).result_processor(dialect, None))
            for c in self.statement.exported_columns
        ]
        return compiled.string, binds, columns

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row the statement returns, as dicts of converted values."""
        compiled = self._compile(conn)
        if not compiled:
            return [dict(row._mapping) for row in conn.execute(self.statement, params)]
        sql, binds, columns = compiled
        # Inline rather than a helper per value: a write binds about twenty values.
        values = [
            (params[name] if required else params.get(name, default))
            if process is None
            else process(params[name] if required else params.get(name, default))
            for name, required, default, process in binds
        ]
        dbapi_error = conn.dialect.loaded_dbapi.Error
        try:
            rows = conn.connection.dbapi_connection.execute(sql, values).fetchall()
        except dbapi_error as exc:  # as SQLAlchemy raises it: a locked database is an OperationalError (503)
            raise DBAPIError.instance(sql, values, exc, dbapi_error, dialect=conn.dialect) from exc
        return [
            {
                key: value if process is None else process(value)
                for (key, process), value in zip(columns, row, strict=True)
            }
            for row in rows
        ]

    def first(self, conn: Connection, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None
