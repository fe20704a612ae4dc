from django.urls import path

from ims_portal.exports import evidence_views, views, views_push

app_name = "exports"

urlpatterns = [
    path("", views.history, name="history"),
    path("events/", views_push.history_events, name="history_events"),
    path("new/", views.new_export, name="new"),
    path("new/check/<str:field>/", views.check_field, name="check_field"),
    path("new/images/", views.image_picker, name="image_picker"),
    path("new/buckets/", views.bucket_picker, name="bucket_picker"),
    path("<int:pk>/", views.export_detail, name="detail"),
    path("<int:pk>/status/", views.export_status, name="status"),
    path("<int:pk>/events/", views_push.export_events, name="events"),
    path("<int:pk>/verification/", views.export_verification, name="verification"),
    path("<int:pk>/cancel/", views.cancel_export, name="cancel"),
    path("<int:pk>/abandon/", views.abandon_export, name="abandon"),
    path("<int:pk>/evidence.json", evidence_views.evidence_json, name="evidence_json"),
    path("<int:pk>/evidence/", evidence_views.evidence_page, name="evidence"),
]
