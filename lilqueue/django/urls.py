"""The queue's HTTP endpoints in a Django URLconf: ``path("jobs/", include("lilqueue.django.urls"))``."""

app_name = "lilqueue"
urlpatterns: list = []
