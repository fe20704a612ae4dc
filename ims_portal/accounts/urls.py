from django.urls import path

from ims_portal.accounts import views

app_name = "accounts"

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("signed-out/", views.SignedOutView.as_view(), name="signed_out"),
    path("sso/start/", views.SSOStartView.as_view(), name="sso_start"),
    path("sso/callback/", views.SSOCallbackView.as_view(), name="sso_callback"),
]
