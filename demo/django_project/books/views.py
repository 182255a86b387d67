from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from lilqueue.django import owner, queue

from .models import Book
from .tasks import import_books


def index(request: HttpRequest, job_id: str | None = None) -> HttpResponse:
    """The books, a form to import more, and the import under way (``job_id``) shown live."""
    if request.method == "POST":
        titles = [line for line in request.POST.get("titles", "").splitlines() if line.strip()]
        job = queue.start(import_books, [titles], owner=owner(request))  # the owner alone may watch it
        return redirect("import", job_id=job.id)
    return render(request, "books/index.html", {"books": Book.objects.order_by("title"), "job_id": job_id})
