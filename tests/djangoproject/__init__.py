"""A real Django project using ``lilqueue.django``, run by the tests as a user would run theirs:
``python tests/djangoproject/manage.py migrate``, ``... lilqueue worker``, ``runserver``,
gunicorn on ``wsgi.py`` and uvicorn on ``asgi.py``.

``DJANGO_DB``: Django's SQLite file (default: ``db.sqlite3`` here); ``LILQUEUE_TEST_DB``:
lilqueue's database (default: beside Django's, as ``lilqueue.django`` chooses).
"""
