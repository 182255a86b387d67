from django.http import HttpRequest, HttpResponse
from django.urls import path


def hello(request: HttpRequest) -> HttpResponse:
    """The host's own route: it must stay fast while browsers watch jobs."""
    return HttpResponse("hello from Django")


urlpatterns = [path("hello", hello)]
