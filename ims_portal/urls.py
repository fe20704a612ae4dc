from django.contrib import admin
from django.urls import include, path

from ims_portal.exports.overview_views import overview_live, overview_page
from ims_portal.exports.views_push import overview_events
from ims_portal.rate_limits import limit_sign_ins

urlpatterns = [
    path("", overview_page, name="home"),
    path("overview/live/", overview_live, name="overview_live"),
    path("overview/events/", overview_events, name="overview_events"),
    path("exports/", include("ims_portal.exports.urls")),
    path("accounts/", include("ims_portal.accounts.urls")),
    path("audit/", include("ims_portal.audit.urls")),
    # The break-glass password sign-in, limited like the portal's own (before the admin's
    # own route to the same view).
    path("admin/login/", limit_sign_ins(admin.site.login), name="admin_login"),
    path("notifications/", include("ims_portal.notifications.urls")),
    path("api/", include("ims_portal.api.urls")),
    path("tokens/", include("ims_portal.api.token_urls")),
    path("admin/", admin.site.urls),
]
