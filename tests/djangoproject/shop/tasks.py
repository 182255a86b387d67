import lilqueue
from lilqueue.django import queue

from .models import Note


@queue.task
def count_words(note_id: int) -> int:
    """Count a note's words and store the count: the ORM inside a worker."""
    note = Note.objects.get(pk=note_id)
    note.words = len(note.text.split())
    note.save(update_fields=["words"])
    lilqueue.current_job().progress(1, 1)
    return note.words


@queue.task(isolate=True)
def count_notes() -> int:
    """The ORM in a job's own child process."""
    return Note.objects.count()


@queue.task
def connection_was_closed() -> bool:
    """True when no database connection is left over from the job before (the worker closed it,
    as Django closes a request's: CONN_MAX_AGE is 0 here)."""
    from django.db import connection

    fresh = connection.connection is None
    Note.objects.exists()
    return fresh
