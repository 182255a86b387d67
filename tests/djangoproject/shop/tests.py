"""Run by Django's test runner with ``LILQUEUE = {"IMMEDIATE": True}`` (tests/test_django_worker.py):
each start() runs the job in the test's thread, inside the test's transaction."""

from django.test import TestCase

from lilqueue.django import queue

from .models import Note
from .tasks import count_words


class CountWordsTests(TestCase):
    def test_the_job_is_done_when_start_returns_and_saw_the_tests_rows(self) -> None:
        self.assertTrue(queue.immediate)
        note = Note.objects.create(text="one two three")
        job = count_words.start(note.pk)
        self.assertEqual((job.state, job.result), ("succeeded", 3))
        note.refresh_from_db()
        self.assertEqual(note.words, 3)

    def test_a_view_that_starts_a_job_finds_it_done(self) -> None:
        answer = self.client.post("/notes/", {"text": "a b"})
        job = queue.get(answer["Location"].rsplit("/", 1)[1])
        self.assertEqual((job.state, job.result), ("succeeded", 2))
