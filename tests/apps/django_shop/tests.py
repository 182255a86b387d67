"""Run by Django's test runner: DJANGO_SETTINGS_MODULE=tests.apps.django_shop.settings
python -m django test tests.apps.django_shop."""

from django.test import SimpleTestCase

from lilqueue import testing

from .jobs import queue


class CountWordsTests(SimpleTestCase):
    def setUp(self) -> None:
        self.enterContext(testing.immediate(queue))

    def test_the_view_answers_with_the_job_done(self) -> None:
        answer = self.client.post("/count", {"text": "one two three"})
        self.assertEqual(answer.status_code, 202)
        self.assertEqual((answer.json()["state"], answer.json()["result"]), ("succeeded", 3))
        job = queue.get(answer.json()["id"])
        self.assertEqual([line.message for line in job.logs], ["13 characters"])

    def test_a_bad_argument_is_refused_before_any_job(self) -> None:
        with self.assertRaises(Exception) as raised:
            queue.start("word_count", [42])
        self.assertIn("expects str, got int", str(raised.exception))
        self.assertEqual(queue.jobs(), [])
