from django.http import HttpResponse
from django.urls import path


def home(request):
    return HttpResponse("Hello from Django. POST {\"task\": \"word_count\", \"args\": [\"a b c\"]} to /jobs/")


urlpatterns = [path("", home)]
