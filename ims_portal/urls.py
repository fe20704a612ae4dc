from django.contrib import admin
from django.urls import include, path

from ims_portal.exports.overview_views import overview_live, overview_page

urlpatterns = [
    path("", overview_page, name="home"),
    path("overview/live/", overview_live, name="overview_live"),
    path("exports/", include("ims_portal.exports.urls")),
    path("accounts/", include("ims_portal.accounts.urls")),
    path("audit/", include("ims_portal.audit.urls")),
    path("api/", include("ims_portal.api.urls")),
    path("tokens/", include("ims_portal.api.token_urls")),
    path("admin/", admin.site.urls),
]
