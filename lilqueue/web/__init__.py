"""The HTTP face of a queue: a WSGI middleware with endpoints to start, watch and cancel jobs.

``middleware.py`` is the WSGI callable (prefix handling, CORS, pass-through); ``routes.py`` the
endpoints; ``inputs.py`` the checks of what a request brings; ``problems.py`` the error answers
and the one table from errors to statuses; ``watcher.py`` the long-poll watcher; ``statuspage.py``
and ``openapi.py`` two documents; ``server.py`` a threaded server for ``python -m lilqueue serve``.
"""

from .middleware import Middleware

__all__ = ["Middleware"]
