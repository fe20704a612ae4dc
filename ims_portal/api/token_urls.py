from django.urls import path

from ims_portal.api import token_views

app_name = "tokens"

urlpatterns = [
    path("", token_views.token_list, name="list"),
    path("<int:pk>/revoke/", token_views.revoke_token, name="revoke"),
]
