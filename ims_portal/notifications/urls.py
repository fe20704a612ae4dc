from django.urls import path

from ims_portal.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.settings_page, name="settings"),
    path("email/", views.save_email, name="email"),
    path("email/test/", views.test_email, name="email_test"),
    path("email/log/", views.email_log, name="email_log"),
    path("webhooks/", views.add_webhook, name="add_webhook"),
    path("webhooks/<int:pk>/", views.change_webhook, name="webhook"),
    path("webhooks/<int:pk>/delete/", views.delete_webhook, name="delete_webhook"),
    path("webhooks/<int:pk>/secret/", views.reveal_secret, name="secret"),
    path("webhooks/<int:pk>/secret/rotate/", views.rotate_secret, name="rotate_secret"),
    path("webhooks/<int:pk>/test/", views.test_webhook, name="webhook_test"),
    path("webhooks/<int:pk>/log/", views.webhook_log, name="webhook_log"),
]
