"""Who may see and do what in the console. Deny by default; one place, plain functions.

Roles (../shared/architecture.md): an operator works their own and unassigned cases; a
supervisor sees every case and assigns, merges, closes, hands over and reads audit trails; a
liaison sees only the cases handed to their sector, and only what receiving the person needs;
an analyst sees no case; an admin manages staff accounts and sees no case content.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from django.db.models import QuerySet

from safepassage.cases import queue
from safepassage.cases.models import Case, Handover, Status
from safepassage.console.models import Role, StaffProfile

AnyUser = AbstractBaseUser | AnonymousUser

CASE_ROLES = frozenset({Role.OPERATOR, Role.SUPERVISOR})


def role_of(user: AnyUser) -> Role | None:
    """The staff role, or None for anyone who is not active staff with a profile.

    The first admin made by ``safepassage serve`` is a superuser without a profile: admin.
    """
    if not isinstance(user, User) or not user.is_active:
        return None
    try:
        return Role(user.staff_profile.role)
    except StaffProfile.DoesNotExist:
        return Role.ADMIN if user.is_superuser else None


# Capabilities, by role. Anything not listed here is refused.
CAPABILITIES: dict[str, frozenset[Role]] = {
    "queue": CASE_ROLES,
    "case.read": CASE_ROLES,
    "case.work": CASE_ROLES,  # reply, note, call, status, head count
    "case.assign": frozenset({Role.SUPERVISOR}),
    "case.merge": frozenset({Role.SUPERVISOR}),
    "case.handover": frozenset({Role.SUPERVISOR}),
    "case.audit": frozenset({Role.SUPERVISOR}),
    "replies": frozenset({Role.SUPERVISOR}),  # vetted replies: edit, review (replies.services)
    "hotline": CASE_ROLES,
    "field": frozenset({Role.LIAISON}),
    "staff": frozenset({Role.ADMIN}),
    "service": frozenset({Role.ADMIN}),  # service health: no personal data
    "overview": frozenset({Role.ANALYST}),  # today's aggregate counts: no personal data
    # Who holds the program key, grants, alarms; granting also needs holding the key.
    "keys": frozenset({Role.SUPERVISOR, Role.ADMIN}),
    "account": frozenset(Role),  # one's own second factors
    # Campaign material (no applicant data) and reports from aggregate counts only.
    "campaigns": frozenset({Role.SUPERVISOR, Role.ADMIN}),
    "reports": frozenset({Role.ANALYST, Role.SUPERVISOR}),
    "health": frozenset({Role.SUPERVISOR, Role.ADMIN}),  # service figures, no case
}


def can(user: AnyUser, capability: str) -> bool:
    role = role_of(user)
    return role is not None and role in CAPABILITIES.get(capability, frozenset())


def is_supervisor(user: AnyUser) -> bool:
    return role_of(user) == Role.SUPERVISOR


def reads_of(user: AnyUser) -> tuple[str, ...]:
    """The applicant languages this member reads (their profile; none without one)."""
    if not isinstance(user, User):
        return ()
    try:
        reads = user.staff_profile.reads
    except StaffProfile.DoesNotExist:
        return ()
    return tuple(str(lang) for lang in reads or ())


def visible_cases(user: AnyUser) -> QuerySet[Case]:
    """Cases whose content this user may open: supervisors all, operators own + unassigned."""
    cases = Case.objects.exclude(status=Status.DRAFT)
    role = role_of(user)
    if role == Role.SUPERVISOR:
        return cases
    if role == Role.OPERATOR and isinstance(user, User):
        return cases.filter(queue.own_or_unassigned(user))
    return cases.none()


def can_open(user: AnyUser, case: Case) -> bool:
    return visible_cases(user).filter(pk=case.pk).exists()


def field_handovers(user: AnyUser) -> QuerySet[Handover]:
    """The handovers a liaison may see: the current ones of their own sector."""
    if role_of(user) != Role.LIAISON or not isinstance(user, User):
        return Handover.objects.none()
    index = user.staff_profile.sector_index
    if not index:
        return Handover.objects.none()
    return Handover.objects.filter(sector_index=index, active=True)


def sector_choices() -> list[tuple[str, str]]:
    """(keyed index, name) of every liaison's sector, by name: names are opened with the
    master key, never stored in clear."""
    found: dict[str, str] = {}
    for profile in StaffProfile.objects.filter(role=Role.LIAISON).exclude(sector_index=""):
        found.setdefault(profile.sector_index, profile.sector)
    return sorted(found.items(), key=lambda item: item[1].casefold())
