from books import views
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", views.index, name="index"),
    path("imports/<str:job_id>", views.index, name="import"),
    path("jobs/", include("lilqueue.django.urls")),   # start, watch, cancel; /jobs/admin/ for staff
    path("admin/", admin.site.urls),
]
