"""A staff member's own display settings (console.prefs): the time zone."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from safepassage.console import prefs, views_staff
from safepassage.console.guard import staff_view
from safepassage.console.models import StaffProfile


@require_POST
@staff_view("account")
def account_time_zone(request: HttpRequest) -> HttpResponse:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    form = prefs.TimeZoneForm(request.POST)
    if not form.is_valid():
        return views_staff._account_page(request, 400, time_zone_form=form)
    StaffProfile.objects.filter(user=request.user).update(time_zone=form.cleaned_data["time_zone"])
    return HttpResponseRedirect(reverse("console:account"))
