"""The command line: ``python -m lilqueue`` and the ``lilqueue`` script.

``command.py`` parses and runs a verb; ``processes.py`` holds the verbs that keep a process
running (``worker``, ``serve``), ``operators.py`` the operators' verbs (``jobs``, ``show``,
``retry``, ``cancel``, ``stats``, ``workers``, ``purge``); ``loading.py`` finds the Queue a
``module:attribute`` names, and ``exits.py`` says what each exit code means.
"""

from .command import main

__all__ = ["main"]
