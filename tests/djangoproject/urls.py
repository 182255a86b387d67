from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def hello(request: HttpRequest) -> HttpResponse:
    """The site's own route: it must stay fast while browsers watch jobs."""
    return HttpResponse("hello from Django")


urlpatterns = [
    path("hello", hello),
    path("jobs/", include("lilqueue.django.urls")),
]
