"""Just enough settings for runserver to serve ``wsgi.application``."""

SECRET_KEY = "tests only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "tests.servers.django_site.urls"
WSGI_APPLICATION = "tests.servers.django_site.wsgi.application"  # runserver serves the wrapped app
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}
