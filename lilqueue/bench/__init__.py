"""``python -m lilqueue bench``: lilqueue beside the raw peer (SqliteHuey), in one run.

``run.py`` measures the queue and the worker, ``web.py`` the web figures, ``figures.py`` holds
the plans and the table, ``processes.py`` and ``contestants.py`` the child processes. The
library never imports this package.
"""

from .run import main

__all__ = ["main"]
