"""Found by lilqueue.django when Django starts, in the web process and in any worker."""

import time

import lilqueue
from lilqueue.django import queue

from .models import Book


@queue.task
def import_books(titles: list[str]) -> dict:
    """Add one book per title, skipping those already there; slow on purpose, to watch it."""
    job = lilqueue.current_job()
    added = 0
    for done, title in enumerate(titles, 1):
        _, created = Book.objects.get_or_create(title=title.strip())
        if created:
            added += 1
        else:
            job.log("warning", f"already there: {title}")
        job.progress(done, len(titles), f"{title}")  # also where a cancel stops the job
        time.sleep(0.5)
    return {"added": added, "skipped": len(titles) - added}
