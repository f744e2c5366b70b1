from django.urls import path

from evim.messaging import views

app_name = "messaging"
urlpatterns = [
    path("settings/", views.messaging_settings, name="settings"),
]
