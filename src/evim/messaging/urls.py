from django.urls import path

from evim.messaging import guest_views, views

app_name = "messaging"
urlpatterns = [
    path("settings/", views.messaging_settings, name="settings"),
    path("accounts/new/", views.account_create, name="account_create"),
    path("accounts/<int:account_id>/", views.account_edit, name="account_edit"),
    path("accounts/<int:account_id>/delete/", views.account_delete, name="account_delete"),
    path("accounts/<int:account_id>/test/", views.account_test, name="account_test"),
    path("accounts/test/", views.account_test_all, name="account_test_all"),
    path("accounts/provision/", views.account_provision, name="account_provision"),
    path("self-service/", views.self_service, name="self_service"),
    path("my-account/", views.my_account, name="my_account"),
    path("my-account/create/", views.create_my_account, name="create_my_account"),
    path("chat-preferences/", views.chat_preferences, name="chat_preferences"),
    path("room-choice/", views.room_choice, name="room_choice"),
    path("guest-links/", guest_views.guest_links, name="guest_links"),
    path(
        "guest-links/<int:link_id>/revoke/",
        guest_views.guest_link_revoke,
        name="guest_link_revoke",
    ),
]
