from django.urls import include, path

from evim.gateway import views as gateway_views

urlpatterns = [
    path("metrics", gateway_views.metrics, name="metrics"),
    path("", include("evim.backoffice.urls")),
    path("messaging/", include("evim.messaging.urls")),
    path("service/statistics/", include("evim.gateway.statistics_urls")),
    path("service/", include("evim.service.urls")),
    path("im/", include("evim.messaging.chat_urls")),
    path("im/", include("evim.gateway.urls")),
    path("guest/", include("evim.messaging.guest_urls")),
]
