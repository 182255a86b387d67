"""Who may do what through ``lilqueue.django.urls``, in Django's terms. Each hook takes the
Django ``request``; ``LILQUEUE`` may replace any of them (a callable or its dotted path):

=============  ==========================================  =====================================
option         asked                                       default
=============  ==========================================  =====================================
``IDENTIFY``   ``(request) -> str | None``: the owner       the logged-in user's pk (anonymous:
               stored with a job started over HTTP          None)
``AUTHORIZE``  ``(request, action, target) -> bool``        start: anyone; view and cancel: a job
               (``"start"``: task name; ``"view"``,         without owner, or the owner's own
               ``"cancel"``: the Job)
``ADMIN``      ``(request) -> bool``: the dashboard         active ``is_staff`` users; anonymous
                                                            users are sent to ``LOGIN_URL``
``METRICS``    ``(request) -> bool``: ``/metrics``          as ``ADMIN`` (anonymous: 403)
=============  ==========================================  =====================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest

from . import conf
from .bridge import REQUEST_KEY


def owner(request: HttpRequest) -> str | None:
    """The owner to give a job a view starts for this request, as ``IDENTIFY`` names users
    over HTTP, so that its owner may watch it (``{% lilqueue_card %}``) and nobody else:

        job = queue.start(import_rows, [upload.pk], owner=owner(request))
    """
    return (conf.hook(conf.raw(), "IDENTIFY") or identify)(request)


def identify(request: HttpRequest) -> str | None:
    user = getattr(request, "user", None)
    return str(user.pk) if user is not None and user.is_authenticated else None


def authorize(request: HttpRequest, action: str, target: Any) -> bool:
    if action == "start":
        return True
    return target.owner is None or target.owner == identify(request)


def is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return user is not None and user.is_active and user.is_staff


def on_environ(hook: Callable) -> Callable:
    """The middleware's form of a hook (it passes the WSGI environ first)."""
    def adapted(environ: dict, *args: Any) -> Any:
        return hook(environ[REQUEST_KEY], *args)
    adapted.__qualname__ = getattr(hook, "__qualname__", repr(hook))
    return adapted
