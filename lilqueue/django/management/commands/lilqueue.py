"""``python manage.py lilqueue <verb>``: lilqueue's own command line on the site's queue, Django
set up first. The verbs, their options, output and exit codes are those of
``python -m lilqueue``; only the ``queue`` argument is gone.

    python manage.py lilqueue worker --threads 4
    python manage.py lilqueue jobs --state failed
"""

from __future__ import annotations

import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ....cli import main
from ... import queue

DJANGO_OPTIONS = ("--settings", "--pythonpath")  # already applied by manage.py before this command runs


class Command(BaseCommand):
    help = "lilqueue's command line on this site's queue: worker, jobs, show, retry, cancel, stats, ..."

    def run_from_argv(self, argv: list[str]) -> None:
        # lilqueue's parser, not Django's: the same help, messages and exit codes as python -m lilqueue.
        sys.exit(run(_without_django_options(argv[2:]), f"{os.path.basename(argv[0])} {argv[1]}"))

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("args", nargs="*", help="a verb of python -m lilqueue and its options")

    def handle(self, *args: str, **options: Any) -> None:
        code = run(list(args), "lilqueue")  # call_command("lilqueue", "jobs", "--json")
        if code:
            raise CommandError(f"lilqueue {' '.join(args)} ended with exit code {code}", returncode=code)


def run(argv: list[str], prog: str) -> int:
    return main(argv, prog=prog, queue=queue)


def _without_django_options(argv: list[str]) -> list[str]:
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in DJANGO_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(o + "=" for o in DJANGO_OPTIONS)):
            kept.append(arg)
    return kept
