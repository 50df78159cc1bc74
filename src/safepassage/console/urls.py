from __future__ import annotations

from django.urls import path

from safepassage.console import (
    views_auth,
    views_case,
    views_field,
    views_hotline,
    views_keys,
    views_prefs,
    views_queue,
    views_staff,
)

app_name = "console"
urlpatterns = [
    path("", views_queue.home, name="home"),
    path("console.js", views_queue.script, name="script"),
    # Logging in: password, then a second factor (or enrolling the first one).
    path("login/", views_auth.login_view, name="login"),
    path("login/verify/", views_auth.verify, name="verify"),
    path("login/enrol/", views_auth.enrol, name="enrol"),
    path("login/key/options/", views_auth.key_login_options, name="key_login_options"),
    path("login/key/", views_auth.key_login, name="key_login"),
    path("keys/options/", views_auth.key_register_options, name="key_register_options"),
    path("keys/", views_auth.key_register, name="key_register"),
    path("logout/", views_auth.logout_view, name="logout"),
    path("account/", views_staff.account, name="account"),
    path("account/language/", views_staff.account_language, name="account_language"),
    path("account/time-zone/", views_prefs.account_time_zone, name="account_time_zone"),
    path("account/password/", views_staff.account_password, name="account_password"),
    path("account/choose-password/", views_keys.choose_password, name="choose_password"),
    path("program-key/", views_keys.program_key, name="program_key"),
    path("program-key/grant/<int:user_id>/", views_keys.grant, name="grant"),
    path(
        "staff/<int:user_id>/reset-password/",
        views_staff.staff_reset_password,
        name="staff_reset_password",
    ),
    path("staff/", views_staff.staff, name="staff"),
    path("staff/new/", views_staff.staff_new, name="staff_new"),
    path("staff/<int:user_id>/reset/", views_staff.staff_reset, name="staff_reset"),
    # The queue and cases.
    path("queue/", views_queue.inbox, name="inbox"),
    path("queue/rows/", views_queue.inbox_rows, name="inbox_rows"),
    path("queue/next/", views_queue.take_next, name="take_next"),
    path("queue/find/", views_queue.find_case, name="find_case"),
    path("queue/workload/", views_queue.workload, name="workload"),
    path("cases/<uuid:case_id>/", views_case.case_detail, name="case"),
    path("cases/<uuid:case_id>/reply/", views_case.reply, name="reply"),
    path("cases/<uuid:case_id>/status/", views_case.transition, name="transition"),
    path("cases/<uuid:case_id>/head-count/", views_case.head_count, name="head_count"),
    path("cases/<uuid:case_id>/assign/", views_case.assign, name="assign"),
    path("cases/<uuid:case_id>/note/", views_case.note, name="note"),
    path("cases/<uuid:case_id>/merge/", views_case.merge, name="merge"),
    path("cases/<uuid:case_id>/unmerge/", views_case.unmerge, name="unmerge"),
    path("cases/<uuid:case_id>/handover/", views_case.handover, name="handover"),
    path(
        "cases/<uuid:case_id>/handover/share/",
        views_case.share_handover,
        name="handover_share",
    ),
    path("cases/<uuid:case_id>/call/", views_case.log_call, name="call"),
    path("cases/<uuid:case_id>/callback/", views_case.request_callback, name="callback"),
    path("cases/<uuid:case_id>/audit/", views_case.case_audit, name="audit"),
    # The hotline desk.
    path("hotline/", views_hotline.desk, name="hotline"),
    path("hotline/identify/", views_hotline.identify, name="identify"),
    path("hotline/new-case/", views_hotline.new_case, name="call_new_case"),
    path(
        "hotline/callbacks/<int:callback_id>/done/",
        views_hotline.callback_done,
        name="callback_done",
    ),
    # Liaisons in the field.
    path("field/", views_field.field_list, name="field"),
    path("field/<int:handover_id>/", views_field.field_detail, name="field_detail"),
    path("field/<int:handover_id>/confirm/", views_field.field_confirm, name="field_confirm"),
    path("field/<int:handover_id>/outcome/", views_field.field_outcome, name="field_outcome"),
]
