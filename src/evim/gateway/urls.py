from django.urls import path

from evim.gateway import views

app_name = "gateway"
urlpatterns = [
    path("credentials", views.credentials, name="credentials"),
]
