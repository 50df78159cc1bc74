"""Members of the previous version whose password is still one someone else gave them.

The previous version wrapped the program key under the one-time password an admin saw (staff
page, reset access, `manage addstaff`) or `serve` printed (the first admin), and nothing made
its holder replace it. Left so, an admin who resets that member's factors logs in with the
password they once saw and reads every case. The audit log (never purged) tells who still has
such a password: one issued to them (``staff.create``, the old ``staff.reset_access``) and not
changed by them since (``staff.password_changed``, ``keys.rewrap``), or a superuser who never
changed theirs. They choose their own at their next login (console.first_login), which re-wraps
their keys under it.
"""

from django.db import migrations

ISSUED = ("staff.create", "staff.reset_access")
OWN_CHANGE = ("staff.password_changed", "keys.rewrap", "staff.password_chosen")


def _issued_to(detail: str, user_id: int) -> bool:
    return detail == f"user {user_id}" or detail.startswith(f"user {user_id} ")


def mark_given_passwords(apps, schema_editor):  # type: ignore[no-untyped-def]
    audit = apps.get_model("privacy", "AuditEvent").objects
    profiles = apps.get_model("console", "StaffProfile").objects.select_related("user")
    issued: dict[int, int] = {}
    for event_id, detail in audit.filter(action__in=ISSUED).values_list("id", "detail"):
        words = detail.split()
        if len(words) >= 2 and words[0] == "user" and words[1].isdigit():
            user_id = int(words[1])
            if _issued_to(detail, user_id):
                issued[user_id] = max(issued.get(user_id, 0), event_id)
    changed: dict[int, int] = {}
    for event_id, actor_id in audit.filter(action__in=OWN_CHANGE).values_list("id", "actor_id"):
        if actor_id is not None:
            changed[actor_id] = max(changed.get(actor_id, 0), event_id)
    given = []
    for profile in profiles.filter(must_choose_password=False):
        user = profile.user
        last_change = changed.get(user.pk, 0)
        if issued.get(user.pk, 0) > last_change or (user.is_superuser and not last_change):
            given.append(profile.pk)
    profiles.filter(pk__in=given).update(must_choose_password=True)


class Migration(migrations.Migration):
    dependencies = [
        ("console", "0004_merge_keys_liaison"),
        ("privacy", "0007_merge_keys_ratecounter"),
    ]

    operations = [
        migrations.RunPython(mark_given_passwords, migrations.RunPython.noop, elidable=False),
    ]
