"""The API's routes: version 1 under /api/v1/, the schema and the reference page beside it,
and a problem-details 404 for anything else under /api/."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.permissions import AllowAny

from ims_portal.api import reference, views

app_name = "api"

urlpatterns = [
    path("", reference.reference, name="reference"),
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[AllowAny], authentication_classes=[]),
        name="schema",
    ),
    path("v1/images/", views.ImagesView.as_view(), name="images"),
    path("v1/buckets/", views.BucketsView.as_view(), name="buckets"),
    path("v1/exports/", views.ExportsView.as_view(), name="exports"),
    path("v1/exports/<int:pk>/", views.ExportView.as_view(), name="export"),
    path("v1/exports/<int:pk>/retry/", views.RetryView.as_view(), name="retry"),
    path("v1/exports/<int:pk>/abandon/", views.AbandonView.as_view(), name="abandon"),
    path("v1/exports/<int:pk>/cancel/", views.CancelView.as_view(), name="cancel"),
    path("v1/audit/events/", views.AuditEventsView.as_view(), name="audit_events"),
    path("v1/audit/events/<int:pk>/", views.AuditEventView.as_view(), name="audit_event"),
    path("v1/audit/export.<str:fmt>", views.AuditExportView.as_view(), name="audit_export"),
    re_path(r"^.*$", views.NotFoundView.as_view(), name="unknown_endpoint"),
]
