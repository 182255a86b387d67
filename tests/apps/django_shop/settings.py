SECRET_KEY = "tests only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "tests.apps.django_shop.urls"
INSTALLED_APPS: list[str] = []
DATABASES: dict = {}
USE_TZ = True
