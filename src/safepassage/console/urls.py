from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from safepassage.console import views

app_name = "console"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(next_page="console:login"), name="logout"),
    path("cases/<uuid:case_id>/", views.case_detail, name="case"),
    path("cases/<uuid:case_id>/reply/", views.reply, name="reply"),
]
