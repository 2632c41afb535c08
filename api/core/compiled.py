"""Queries compiled once: peewee builds a query's SQL anew on every call, which for the
joins of a cluster view costs more than the database does to answer it (measured: 2.4 ms
to build the SQL of find_cluster against 0.07 ms to run it on SQLite, issue 13). A
`Compiled` query is built once per database with placeholder values, and each call runs
its SQL with the real values and peewee's own row-to-model conversion, set up once too
(peewee works out which column goes to which joined model for every cursor).

On PostgreSQL each compiled query is also a server-side prepared statement of every
connection that runs it: parsing and planning the joins took as long as answering them
(0.40 ms against 0.22 ms prepared for a cluster's row, measured in issue 13)."""
from __future__ import annotations

import datetime as dt
import itertools
import re
import weakref

from peewee import PostgresqlDatabase

from api.core.models import db

# Parameter types of a prepared statement, from the placeholders' and constants' types.
_PG_TYPES = {bool: "boolean", int: "bigint", float: "double precision", str: "text",
             dt.datetime: "timestamp", dt.date: "date"}
_PLACE = re.compile(r"%s|%%")
_names = itertools.count(1)


class Compiled:
    def __init__(self, build, *placeholders):
        """`build(*placeholders)` returns the query; the placeholders must be values no
        call will pass (each one appears in the SQL parameters where a value goes)."""
        self.build = build
        self.placeholders = placeholders
        self._by_database: dict[int, tuple] = {}

    def _prepared(self):
        database = db.obj
        prepared = self._by_database.get(id(database))
        if prepared is None or prepared[0] is not database:
            query = self.build(*self.placeholders)
            sql, params = query.sql()
            # For each parameter: the index of the caller's value, or a constant of the query.
            slots = [(True, self.placeholders.index(p)) if p in self.placeholders else (False, p)
                     for p in params]
            prepared = [database, query, sql, slots, None, _statement(database, sql, slots, self.placeholders)]
            self._by_database[id(database)] = prepared
        return prepared

    def _execute(self, values):
        prepared = self._prepared()
        sql, slots, statement = prepared[2], prepared[3], prepared[5]
        if statement is not None:
            return prepared, db.execute_sql(statement.on(db.connection()),
                                            [values[v] for is_value, v in slots if is_value])
        return prepared, db.execute_sql(sql, [values[v] if is_value else v for is_value, v in slots])

    def raw(self, *values) -> list[tuple]:
        """The rows as the driver gives them, no peewee conversion: for readers that take
        each column as its driver returns it (a datetime as text on SQLite, say), which
        on a page of rows saves most of the time peewee spends per value."""
        return self._execute(values)[1].fetchall()

    def rows(self, *values) -> list:
        prepared, cursor = self._execute(values)
        query, wrapper = prepared[1], prepared[4]
        if wrapper is None:
            # process_row reads only what initialize() worked out from the columns, which
            # are the same on every run of this SQL: one wrapper serves every later call.
            wrapper = query._get_cursor_wrapper(cursor)
            wrapper.initialize()
            wrapper.initialized = True
            prepared[4] = wrapper
        return [wrapper.process_row(row) for row in cursor.fetchall()]

    def first(self, *values):
        rows = self.rows(*values)
        return rows[0] if rows else None


class _Statement:
    """One query as a prepared statement on PostgreSQL, prepared on each connection the
    first time that connection runs it (a statement lasts as long as its session, and a
    rollback does not undo it). The query's constants (statuses, kinds) are written into
    it, so the plan PostgreSQL keeps for the statement knows them; only callers' values
    are its parameters."""

    def __init__(self, sql: str, slots, types: list[str]):
        self.name = f"bdp_q{next(_names)}"
        self.sql, self.slots, self.types = sql, slots, types
        self.call = f"EXECUTE {self.name} ({', '.join(['%s'] * len(types))})" if types else f"EXECUTE {self.name}"
        self._on: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def on(self, connection) -> str:
        """The SQL that runs the statement on `connection`, preparing it there first."""
        if connection not in self._on:
            with connection.cursor() as cursor:
                cursor.execute(self._prepare(cursor))
            self._on[connection] = True
        return self.call

    def _prepare(self, cursor) -> str:
        slots, numbers = iter(self.slots), itertools.count(1)

        def place(match) -> str:
            if match.group() == "%%":
                return "%"
            is_value, v = next(slots)
            return f"${next(numbers)}" if is_value else cursor.mogrify("%s", (v,)).decode()
        types = f" ({', '.join(self.types)})" if self.types else ""
        return f"PREPARE {self.name}{types} AS {_PLACE.sub(place, self.sql)}"


def _statement(database, sql: str, slots, placeholders) -> _Statement | None:
    """A prepared statement for `sql` on PostgreSQL; None elsewhere, or when a value's
    type cannot be told from its placeholder."""
    if not isinstance(database, PostgresqlDatabase):
        return None
    types = [_PG_TYPES.get(type(placeholders[v])) for is_value, v in slots if is_value]
    return None if None in types else _Statement(sql, slots, types)
