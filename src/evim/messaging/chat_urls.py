"""``/im/``: the chat as a full page (the gateway's endpoints live beside it, under /im/)."""

from django.urls import path

from evim.messaging import views

app_name = "chat"
urlpatterns = [
    path("", views.chat_page, name="page"),
]
