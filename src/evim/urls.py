from django.urls import include, path

urlpatterns = [
    path("", include("evim.backoffice.urls")),
    path("messaging/", include("evim.messaging.urls")),
    path("im/", include("evim.gateway.urls")),
]
