from __future__ import annotations

from django.urls import path

from safepassage.channels.webchat import views

app_name = "webchat"
urlpatterns = [
    path("", views.picker, name="picker"),
    path("<str:lang>/", views.chat, name="chat"),
    path("<str:lang>/return/", views.resume, name="resume"),
    path("<str:lang>/left/", views.left, name="left"),
    path("<str:lang>/cleared/", views.cleared, name="cleared"),
]
