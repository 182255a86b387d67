"""A small Django project whose view starts a job, and its tests run by Django's own test runner
(tests/test_testing.py runs ``python -m django test``). ``SHOP_DB``: where its queue keeps jobs."""
