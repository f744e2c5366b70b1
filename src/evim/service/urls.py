from django.urls import path

from evim.service import http_auth, views

app_name = "service"
urlpatterns = [
    path("settings/", views.service_settings, name="settings"),
    path("http-auth/resume/", http_auth.resume, name="http_auth_resume"),
]
