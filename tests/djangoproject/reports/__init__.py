"""Django tasks (the ``django.tasks`` API, the backport before Django 6) run by lilqueue's backend."""
