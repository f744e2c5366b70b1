from django.urls import path

from evim.service import views

app_name = "service"
urlpatterns = [
    path("settings/", views.service_settings, name="settings"),
]
