#!/usr/bin/env python
"""The Django demo: books imported by a background job, with a live progress card.

    python demo/django_project/manage.py runserver      # then open http://127.0.0.1:8000/

One process: the worker runs inside the web process (``LILQUEUE = {"WORKER": True}``). The demo
migrates its own throwaway database before it serves; a real project runs ``migrate`` itself.
"""

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demosite.settings")
    from django.core.management import execute_from_command_line

    if sys.argv[1:2] == ["runserver"]:
        execute_from_command_line([sys.argv[0], "migrate", "--no-input", "-v0"])
    execute_from_command_line(sys.argv)
