from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from .shop import views


def hello(request: HttpRequest) -> HttpResponse:
    """The site's own route: it must stay fast while browsers watch jobs."""
    return HttpResponse("hello from Django")


urlpatterns = [
    path("hello", hello),
    path("notes/", views.new_note, name="new_note"),
    path("notes/<int:pk>/<str:job_id>", views.note, name="note"),
    path("jobs/", include("lilqueue.django.urls")),
]
