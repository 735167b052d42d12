"""Scratch databases on the test PostgreSQL server, owned by an ordinary role.

The hub runs as a role that owns its database and nothing more, so the tests do too:
``fresh_database`` hands out a URL whose role is neither a superuser nor allowed to read
the server's restricted settings (``shared_preload_libraries``), whatever role the server
URL names:

* a superuser (the private server the suite starts): a new login role, and a new
  database that role owns; both dropped afterwards;
* a role that may create databases: a new database it owns;
* a role that owns just the database in its URL (``CITYTRACK_TEST_DB`` pointing at a
  managed server): a new schema there, first on the search path.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


def _superuser_database(conn: psycopg.Connection, server_url: str, name: str) -> Iterator[str]:
    password = secrets.token_hex(16)
    conn.execute(
        f"CREATE ROLE \"{name}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{password}'"
    )
    conn.execute(f'CREATE DATABASE "{name}" OWNER "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name, user=name, password=password)
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def _own_database(conn: psycopg.Connection, server_url: str, name: str) -> Iterator[str]:
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(server_url, dbname=name)
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _own_schema(conn: psycopg.Connection, server_url: str, name: str) -> Iterator[str]:
    conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield psycopg.conninfo.make_conninfo(server_url, options=f"-c search_path={name},public")
    finally:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """URL of a new, empty database (or schema, see the module docstring) on the server at
    ``server_url``, for a role that is not a superuser; dropped afterwards, connections
    still open to it closed by force."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row is not None
        superuser, createdb = row
        if superuser:
            yield from _superuser_database(conn, server_url, name)
        elif createdb:
            yield from _own_database(conn, server_url, name)
        else:
            yield from _own_schema(conn, server_url, name)
