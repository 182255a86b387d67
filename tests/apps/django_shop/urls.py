from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from .jobs import word_count


@csrf_exempt
def count_words(request: HttpRequest) -> JsonResponse:
    job = word_count.start(request.POST.get("text", ""))
    return JsonResponse({"id": job.id, "state": job.state, "result": job.result}, status=202)


urlpatterns = [path("count", count_words)]
