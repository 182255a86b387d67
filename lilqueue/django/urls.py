"""The queue's HTTP endpoints (docs/http.md) in a Django URLconf, under any path:

    urlpatterns = [..., path("jobs/", include("lilqueue.django.urls"))]

Every path under it is served; the names are for ``{% url %}`` and ``reverse``:

    {% url "lilqueue:start" %}                 POST: start a job
    {% url "lilqueue:job" job.id %}            the job's JSON (long-poll with ?since=&wait=)
    {% url "lilqueue:events" job.id %}         its server-sent events
    {% url "lilqueue:cancel" job.id %}         POST: cancel it
    {% url "lilqueue:status" job.id %}         its status page (no JavaScript)
    {% url "lilqueue:js" %}                    lilqueue.js
    {% url "lilqueue:admin" %}                 the dashboard (is_staff users)
    {% url "lilqueue:metrics" %}               Prometheus figures (is_staff users)
    {% url "lilqueue:tasks" %}                 the startable tasks
"""

from django.urls import path, re_path

from .views import endpoint

app_name = "lilqueue"
urlpatterns = [
    path("", endpoint, name="start"),
    path("tasks", endpoint, name="tasks"),
    path("metrics", endpoint, name="metrics"),
    path("static/lilqueue.js", endpoint, name="js"),
    path("admin/", endpoint, name="admin"),
    path("<str:job_id>", endpoint, name="job"),
    path("<str:job_id>/events", endpoint, name="events"),
    path("<str:job_id>/cancel", endpoint, name="cancel"),
    path("<str:job_id>/status", endpoint, name="status"),
    re_path(r"^.*$", endpoint, name="endpoint"),  # everything else the middleware answers (or 404s)
]
