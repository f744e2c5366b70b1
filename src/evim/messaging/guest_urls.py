"""``/guest/<token>/``: a guest link's page (anonymous mode), outside the back office."""

from django.urls import path

from evim.messaging import guest_views

app_name = "guest"
urlpatterns = [
    path("<str:token>/", guest_views.guest_page, name="page"),
    path("<str:token>/credentials", guest_views.guest_credentials, name="credentials"),
]
