"""A minimal Django project with lilqueue wrapped around its WSGI application, for
``runserver``:

    DJANGO_SETTINGS_MODULE=tests.servers.django_site.settings python -m django runserver 127.0.0.1:8000 --noreload
"""
