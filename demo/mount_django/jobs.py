"""The queue and its tasks; the worker runs them with
``python -m lilqueue worker demo.mount_django.jobs:queue``."""

import os

import lilqueue

queue = lilqueue.Queue(os.environ.get("DEMO_DB", "demo.db"))


@queue.task()
def word_count(text: str) -> int:
    """Count the words in a text."""
    return len(text.split())
