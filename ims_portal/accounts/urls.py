from django.urls import path

from ims_portal.accounts import views
from ims_portal.rate_limits import limit_sign_ins

app_name = "accounts"

urlpatterns = [
    path("login/", limit_sign_ins(views.SignInView.as_view()), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("signed-out/", views.SignedOutView.as_view(), name="signed_out"),
    path("sso/start/", views.SSOStartView.as_view(), name="sso_start"),
    path("sso/callback/", views.SSOCallbackView.as_view(), name="sso_callback"),
]
