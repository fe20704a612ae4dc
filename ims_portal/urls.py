from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="exports:history"), name="home"),
    path("exports/", include("ims_portal.exports.urls")),
    path("accounts/", include("ims_portal.accounts.urls")),
    path("audit/", include("ims_portal.audit.urls")),
    path("admin/", admin.site.urls),
]
