from django.urls import path

from ims_portal.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.events, name="events"),
    path("<int:pk>/", views.event_detail, name="detail"),
    path("export.<str:fmt>", views.export_events, name="export"),
    path("key/", views.signing_key, name="key"),
    path("key.pem", views.signing_key_pem, name="key_pem"),
]
