from django.urls import path

from evim.gateway import statistics_views

app_name = "statistics"
urlpatterns = [
    path("", statistics_views.usage_statistics, name="usage"),
]
