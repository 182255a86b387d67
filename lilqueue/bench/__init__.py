"""``python -m lilqueue bench``: lilqueue beside the raw peer, in one run: SqliteHuey, and
PostgresHuey beside the PostgreSQL engine when a server answers.

``command.py`` chooses the engines and prints the tables; ``run.py`` measures the queue and the
worker (and holds the measures both engines use), ``pgrun.py`` the same on PostgreSQL, with
``pgcontestant.py`` and ``pgserver.py`` (schemas, backends); ``web.py`` the web figures,
``asgi.py`` the ASGI face beside the WSGI face on one uvicorn process (``asgihost.py`` the
server, ``asyncclients.py`` its clients), ``history.py`` the operators' reads, ``growth.py``
the costs on an empty and a full job table;
``figures.py`` holds the plans and the table, ``report.py`` the JSON of ``--json``,
``processes.py`` and ``contestants.py`` the child processes. The library never imports this
package.
"""

from .command import main

__all__ = ["main"]
