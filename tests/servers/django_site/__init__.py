"""A minimal Django project with lilqueue wrapped around its WSGI application (``wsgi.py``, for
``runserver``) and around its ASGI application (``asgi.py``, for uvicorn, hypercorn, granian):

    DJANGO_SETTINGS_MODULE=tests.servers.django_site.settings python -m django runserver 127.0.0.1:8000 --noreload
    DJANGO_SETTINGS_MODULE=tests.servers.django_site.settings uvicorn tests.servers.django_site.asgi:application
"""
