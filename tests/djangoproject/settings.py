import importlib.util
import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = "tests only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "tests.djangoproject.urls"
WSGI_APPLICATION = "tests.djangoproject.wsgi.application"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "lilqueue.django",
    "tests.djangoproject.shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.environ.get("DJANGO_DB", BASE_DIR / "db.sqlite3"),
                         # a throwaway database: no fsync per migration (seconds on a loaded CI disk)
                         "OPTIONS": {"init_command": "PRAGMA synchronous=OFF; PRAGMA journal_mode=WAL"}}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LOGIN_URL = "/login/"

LILQUEUE = {"DATABASE": os.environ["LILQUEUE_TEST_DB"]} if "LILQUEUE_TEST_DB" in os.environ else {}

# Django's tasks API on lilqueue (docs/django-tasks.md); the backport's app before Django 6.
if os.environ.get("REPORTS_APP", "1") == "1":  # "0": a site whose apps define no Django task
    INSTALLED_APPS += ["tests.djangoproject.reports"]
if importlib.util.find_spec("django.tasks") is None:
    INSTALLED_APPS += ["django_tasks"]
TASKS = {"default": {"BACKEND": "lilqueue.django.Backend", "QUEUES": ["default", "reports"],
                     "OPTIONS": {"ENQUEUE_ON_COMMIT": os.environ.get("ENQUEUE_ON_COMMIT", "1") == "1"}}}
if "LILQUEUE_TEST_SETTINGS" in os.environ:  # the checks' tests: LILQUEUE as JSON
    LILQUEUE = json.loads(os.environ["LILQUEUE_TEST_SETTINGS"])
