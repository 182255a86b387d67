"""WSGI entry point: Django for every path except /jobs/..., which lilqueue answers."""

import os

from django.core.wsgi import get_wsgi_application

from .jobs import queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo.mount_django.settings")

application = queue.middleware(get_wsgi_application())
