"""lilqueue's SQL on either driver. Statements are written once with ``?`` placeholders (the
style of sqlite3) and handed to psycopg in its own (``%s``), as peewee's ``database.param`` says:

    cursor.execute(in_style(sql, database.param), params)
    execute_rows(cursor, in_style(sql, database.param), rows)
"""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=512)
def in_style(sql: str, param: str) -> str:
    """``sql`` with each ``?`` placeholder written as ``param``."""
    return sql if param == "?" else sql.replace("?", param)


def execute_rows(cursor: Any, sql: str, rows: list) -> None:
    """``sql`` once for each of ``rows``; a single row without ``executemany``, which psycopg
    pipelines: two round trips more for one row."""
    if len(rows) == 1:
        cursor.execute(sql, rows[0])
    else:
        cursor.executemany(sql, rows)
