from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from lilqueue.django import owner, queue

from .models import Note
from .tasks import count_words


def new_note(request: HttpRequest) -> HttpResponse:
    """POST (a form, with Django's CSRF token): store a note and count its words in a job."""
    if request.method == "POST":
        note = Note.objects.create(text=request.POST.get("text", ""))
        job = queue.start(count_words, [note.pk], owner=owner(request))
        return redirect("note", pk=note.pk, job_id=job.id)
    return render(request, "shop/new.html")


def note(request: HttpRequest, pk: int, job_id: str) -> HttpResponse:
    return render(request, "shop/note.html", {"note": get_object_or_404(Note, pk=pk), "job_id": job_id})
