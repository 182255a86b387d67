"""Django for every path except /jobs/..., which lilqueue answers (tests.tasks' queue on
``LILQUEUE_TEST_DB``)."""

import os

from django.core.wsgi import get_wsgi_application

from tests import tasks

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.servers.django_site.settings")

application = tasks.queue.middleware(get_wsgi_application())
