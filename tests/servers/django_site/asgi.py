"""Django's ASGI application wrapped by lilqueue's ASGI face: /jobs/... is lilqueue's, the rest
Django's; the face answers the lifespan (Django speaks none) and starts the embedded worker.
tests.tasks' queue on ``LILQUEUE_TEST_DB``.

    DJANGO_SETTINGS_MODULE=tests.servers.django_site.settings uvicorn tests.servers.django_site.asgi:application
"""

import os

from django.core.asgi import get_asgi_application

from tests import tasks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.servers.django_site.settings")

application = tasks.queue.asgi(get_asgi_application(), worker=True)
