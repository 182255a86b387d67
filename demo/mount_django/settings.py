"""A minimal Django project with lilqueue mounted in wsgi.py.

    DJANGO_SETTINGS_MODULE=demo.mount_django.settings python -m django runserver 8000
    python -m lilqueue worker demo.mount_django.jobs:queue     # a worker, in another terminal
"""

SECRET_KEY = "demo only: set a real secret in production"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "demo.mount_django.urls"
WSGI_APPLICATION = "demo.mount_django.wsgi.application"  # runserver serves the wrapped app too
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}
