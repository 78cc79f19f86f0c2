"""Statements run through psycopg on the unit of work's connection (app/persistence/db.py):
results in order, one transaction, and errors in SQLAlchemy's vocabulary, so that the tasks'
retry rules treat them like any other."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

pytestmark = pytest.mark.usefixtures("service_env")

_TABLE = f"driver_probe_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module", autouse=True)
def probe_table(service_env: dict[str, str]) -> None:
    from app.persistence.db import unit_of_work  # noqa: PLC0415

    with unit_of_work() as session:
        session.execute(text(f"CREATE TABLE {_TABLE} (id text PRIMARY KEY, n integer)"))


def ids_in_table() -> list[str]:
    from app.persistence.db import unit_of_work  # noqa: PLC0415

    with unit_of_work() as session:
        return list(session.scalars(text(f"SELECT id FROM {_TABLE} ORDER BY id")))


def test_statements_run_together_in_order_and_each_returns_its_own_rows() -> None:
    from app.persistence.db import run_together, unit_of_work  # noqa: PLC0415

    key = uuid.uuid4().hex
    with unit_of_work() as session:
        inserted, counted, nothing = run_together(session.connection(), [
            (f"INSERT INTO {_TABLE} VALUES (%(id)s, 1) RETURNING id", {"id": key}),
            (f"SELECT count(*) AS n FROM {_TABLE} WHERE id = %(id)s", {"id": key}),
            (f"UPDATE {_TABLE} SET n = 2 WHERE id = %(id)s", {"id": key}),
        ])
    assert [row.id for row in inserted] == [key]
    assert counted[0].n == 1  # the second statement saw the first one's row
    assert nothing == []
    assert key in ids_in_table()


def test_a_failing_statement_undoes_the_whole_unit_of_work_as_an_integrity_error() -> None:
    from app.persistence.db import run_together, unit_of_work  # noqa: PLC0415

    first, clash = uuid.uuid4().hex, uuid.uuid4().hex
    with unit_of_work() as session:
        run_together(session.connection(), [
            (f"INSERT INTO {_TABLE} VALUES (%(id)s, 1)", {"id": clash})])
    with pytest.raises(IntegrityError), unit_of_work() as session:
        run_together(session.connection(), [
            (f"INSERT INTO {_TABLE} VALUES (%(id)s, 1)", {"id": first}),
            (f"INSERT INTO {_TABLE} VALUES (%(id)s, 1)", {"id": clash}),
            (f"INSERT INTO {_TABLE} VALUES (%(id)s, 1)", {"id": uuid.uuid4().hex}),
        ])
    assert first not in ids_in_table()
    # the pooled connection came back clean: the next unit of work commits
    again = uuid.uuid4().hex
    with unit_of_work() as session:
        run_together(session.connection(), [
            (f"INSERT INTO {_TABLE} VALUES (%(id)s, 1)", {"id": again})])
    assert again in ids_in_table()


def test_a_cancelled_statement_is_an_operational_error_which_tasks_retry() -> None:
    from app.persistence.db import run_on_driver, run_together, unit_of_work  # noqa: PLC0415
    from tasks.celery_app import TRANSIENT_DB_ERRORS  # noqa: PLC0415

    for run in (lambda conn: run_on_driver(conn, "SELECT pg_sleep(5)", {}),
                lambda conn: run_together(conn, [("SELECT pg_sleep(5)", {})])):
        with pytest.raises(OperationalError) as raised, unit_of_work() as session:
            conn = session.connection()
            conn.execute(text("SET LOCAL statement_timeout = '50ms'"))
            run(conn)
        assert isinstance(raised.value, TRANSIENT_DB_ERRORS)
        assert "statement timeout" in str(raised.value)
