import asyncio

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

from tests import tasks


def hello(request: HttpRequest) -> HttpResponse:
    """The host's own route: it must stay fast while browsers watch jobs."""
    return HttpResponse("hello from Django")


async def start(request: HttpRequest) -> JsonResponse:
    """The host's own async view starting a job: start() writes to the database, so in a thread."""
    job = await asyncio.to_thread(tasks.queue.start, "sleepy", [float(request.GET.get("seconds", 0.2))])
    return JsonResponse({"id": job.id})


urlpatterns = [path("hello", hello), path("start", start)]
