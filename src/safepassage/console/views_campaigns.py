"""Supervisors and admins: campaigns, their codes, QR codes, leaflets and end cards (the same
actions as `safepassage campaigns …`). Nothing here touches an applicant's data."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from safepassage.analytics import reports
from safepassage.campaigns import links, qr
from safepassage.campaigns import services as campaigns
from safepassage.campaigns.models import Campaign, CampaignCode
from safepassage.console import forms_campaigns
from safepassage.console.guard import staff_view
from safepassage.privacy import audit

QR_TYPES = qr.FORMATS
# Leaflets are rendered in the request (about 0.2 s of CPU per page): more codes than this
# are a batch for the command line, not a request that holds a worker for minutes.
MAX_LEAFLETS_PER_REQUEST = 20


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # staff_view lets only staff through
        raise PermissionDenied
    return request.user


def _campaign(campaign_id: int) -> Campaign:
    found = Campaign.objects.filter(pk=campaign_id).first()
    if found is None:
        raise Http404("no such campaign")
    return found


def _list(request: HttpRequest, status: int = 200, **extra: object) -> HttpResponse:
    context: dict[str, object] = {
        "campaigns": Campaign.objects.order_by("-created_at"),
        "form": forms_campaigns.CampaignForm(initial={"codes": 1}),
    }
    context.update(extra)
    return render(request, "console/campaigns.html", context, status=status)


@require_GET
@staff_view("campaigns")
def campaign_list(request: HttpRequest) -> HttpResponse:
    return _list(request)


@require_POST
@staff_view("campaigns")
def campaign_new(request: HttpRequest) -> HttpResponse:
    form = forms_campaigns.CampaignForm(request.POST)
    if not form.is_valid():
        return _list(request, 400, form=form)
    data = form.cleaned_data
    try:
        campaign = campaigns.do_create_campaign(
            data["name"],
            medium=data["medium"],
            languages=tuple(data["languages"]),
            target_sector=data["target_sector"],
            starts_on=data["starts_on"],
            ends_on=data["ends_on"],
            notes=data["notes"],
        )
        campaigns.do_add_codes(campaign, data["codes"])
    except campaigns.CampaignError as error:
        form.add_error(None, str(error))
        return _list(request, 400, form=form)
    audit.record(_user(request), "campaign.create", None, f"campaign {campaign.pk}")
    return HttpResponseRedirect(reverse("console:campaign", args=[campaign.pk]))


def _detail(
    request: HttpRequest, campaign: Campaign, status: int = 200, **extra: object
) -> HttpResponse:
    codes = list(campaign.codes.order_by("created_at", "pk"))
    names = {code.code: campaign.name for code in codes}
    import datetime as dt

    today = dt.date.today()
    funnel = reports.funnel(campaign.created_at.date(), today, names, by_code=True)
    from safepassage.console.views_reports import column_labels

    labels = column_labels()
    context: dict[str, object] = {
        "campaign": campaign,
        "codes": [(code, links.for_code(code), code.revoked_at is None) for code in codes],
        "numbers": links.hotline_numbers(),
        "funnel": funnel.shown_rows(),
        "funnel_columns": [labels.get(column, column) for column in reports.FUNNEL],
        "codes_form": forms_campaigns.CodesForm(initial={"count": 1}),
        "leaflet_form": forms_campaigns.LeafletForm(
            initial={"language": campaign.language_list[0] if campaign.language_list else "ru"}
        ),
        "revoke_form": forms_campaigns.RevokeForm(),
    }
    context.update(extra)
    return render(request, "console/campaign.html", context, status=status)


@require_GET
@staff_view("campaigns")
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    return _detail(request, _campaign(campaign_id))


@require_POST
@staff_view("campaigns")
def codes_add(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    form = forms_campaigns.CodesForm(request.POST)
    if not form.is_valid():
        return _detail(request, campaign, 400, codes_form=form)
    count = form.cleaned_data["count"]
    campaigns.do_add_codes(campaign, count, labels=[form.cleaned_data["label"]] * count)
    audit.record(_user(request), "campaign.codes", None, f"campaign {campaign.pk} +{count}")
    return HttpResponseRedirect(reverse("console:campaign", args=[campaign.pk]))


@require_POST
@staff_view("campaigns")
def code_revoke(request: HttpRequest, campaign_id: int, code_id: int) -> HttpResponse:
    campaign = _campaign(campaign_id)
    code = CampaignCode.objects.filter(pk=code_id, campaign=campaign).first()
    if code is None:
        raise Http404("no such code")
    form = forms_campaigns.RevokeForm(request.POST)
    if not form.is_valid():
        return _detail(request, campaign, 400, revoke_form=form, revoking=code.pk)
    campaigns.do_revoke_code(code)
    audit.record(_user(request), "campaign.revoke_code", None, f"campaign {campaign.pk}")
    return HttpResponseRedirect(reverse("console:campaign", args=[campaign.pk]))


@require_GET
@staff_view("campaigns")
def code_qr(request: HttpRequest, code_id: int, kind: str) -> HttpResponse:
    code = CampaignCode.objects.select_related("campaign").filter(pk=code_id).first()
    if code is None or kind not in QR_TYPES:
        raise Http404("no such code")
    link = links.primary(code)
    if link is None:
        return _detail(
            request, code.campaign, 409, error="No link is configured to print (see README)."
        )
    response = HttpResponse(qr.encode(link.url, kind), content_type=QR_TYPES[kind])
    response["Content-Disposition"] = f'attachment; filename="qr-{code.code}.{kind}"'
    return response


@require_GET
@staff_view("campaigns")
def leaflet(request: HttpRequest, campaign_id: int) -> HttpResponse:
    from safepassage.printing import leaflets
    from safepassage.printing.engine import PrintError

    campaign = _campaign(campaign_id)
    form = forms_campaigns.LeafletForm(request.GET)
    if not form.is_valid():
        return _detail(request, campaign, 400, leaflet_form=form)
    data = form.cleaned_data
    codes = list(campaign.codes.filter(revoked_at__isnull=True).order_by("created_at", "pk"))
    if len(codes) > MAX_LEAFLETS_PER_REQUEST:
        form.add_error(
            None,
            _(
                "%(count)s live codes are more than %(most)s leaflets at a time here: print "
                "them on the server with `safepassage campaigns leaflet %(campaign)s --out DIR`."
            )
            % {"count": len(codes), "most": MAX_LEAFLETS_PER_REQUEST, "campaign": campaign.pk},
        )
        return _detail(request, campaign, 400, leaflet_form=form)
    options = leaflets.Options(data["size"], data["sides"] == "2", draft=data["draft"])
    try:
        rendered = leaflets.render(codes, data["language"], options)
    except PrintError as error:
        form.add_error(None, str(error))
        return _detail(request, campaign, 400, leaflet_form=form)
    # A PDF made from our templates and the campaign's data, sent as an attachment, not HTML.
    pdf = rendered.pdf
    response = HttpResponse(pdf, "application/pdf")  # nosemgrep: django-response-from-request-data
    name = f"leaflets-{campaign.pk}-{data['language']}-{data['size']}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@staff_view("campaigns")
def endcard(request: HttpRequest, code_id: int) -> HttpResponse:
    from safepassage.printing import endcards
    from safepassage.printing.engine import PrintError

    code = CampaignCode.objects.select_related("campaign").filter(pk=code_id).first()
    if code is None:
        raise Http404("no such code")
    form = forms_campaigns.LeafletForm(
        {"language": request.GET.get("language"), "size": "A6", "sides": "1"}
        | ({"draft": "on"} if request.GET.get("draft") else {})
    )
    shape = request.GET.get("shape", "landscape")
    if not form.is_valid() or shape not in endcards.FORMATS:
        return _detail(request, code.campaign, 400, error="Choose a language and a shape.")
    try:
        png = endcards.render(
            code, form.cleaned_data["language"], shape=shape, draft=form.cleaned_data["draft"]
        )
    except PrintError as error:
        return _detail(request, code.campaign, 400, error=str(error))
    # A PNG made from our templates, sent as an attachment, not HTML.
    response = HttpResponse(png, "image/png")  # nosemgrep: django-response-from-request-data
    response["Content-Disposition"] = f'attachment; filename="endcard-{code.code}-{shape}.png"'
    return response
