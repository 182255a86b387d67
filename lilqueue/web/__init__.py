"""The HTTP face of a queue: endpoints to start, watch and cancel jobs, served by one core on
two faces.

``core.py`` routes a request (``http.py``: a request in, a response or a wait out) to the
endpoints (``routes.py``), the dashboard (``admin/``) and the metrics; ``wsgi.py`` is the WSGI
face (``queue.middleware``) and ``asgi.py`` the ASGI one (``queue.asgi``). ``options.py`` checks
their options; ``inputs.py`` what a request brings; ``problems.py`` the error answers and the one
table from errors to statuses; ``watcher.py`` wakes waiting requests; ``statuspage.py`` and
``openapi.py`` are two documents; ``server.py`` a threaded server for ``python -m lilqueue serve``.
"""

from .wsgi import Middleware

__all__ = ["Middleware"]
