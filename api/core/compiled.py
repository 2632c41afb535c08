"""Queries compiled once: peewee builds a query's SQL anew on every call, which for the
joins of a cluster view costs more than the database does to answer it (measured: 2.4 ms
to build the SQL of find_cluster against 0.07 ms to run it on SQLite, issue 13). A
`Compiled` query is built once per database with placeholder values, and each call runs
its SQL with the real values and peewee's own row-to-model conversion, set up once too
(peewee works out which column goes to which joined model for every cursor)."""
from __future__ import annotations

from api.core.models import db


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
            prepared = [database, query, sql, slots, None]
            self._by_database[id(database)] = prepared
        return prepared

    def rows(self, *values) -> list:
        prepared = self._prepared()
        _, query, sql, slots, wrapper = prepared
        cursor = db.execute_sql(sql, [values[v] if is_value else v for is_value, v in slots])
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
