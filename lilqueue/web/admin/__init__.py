"""The operators' dashboard: ``queue.middleware(app, admin=hook)`` serves it under
``{prefix}/admin`` to whoever ``hook(environ)`` says is an operator.

``app.py`` is the WSGI app (the hook, routing, errors, static files); ``filters.py`` the job
list's filters; ``layout.py`` the frame every page shares; ``pages.py`` the overview and the job
list; ``jobpage.py`` one job; ``actions.py`` retry, cancel, delete and bulk; ``static/`` the
script and the stylesheet.
"""

from .app import Admin as Admin

__all__ = ["Admin"]
