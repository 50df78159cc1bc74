"""safepassage manage addstaff NAME --role operator [--sector S] [--language ru]"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from safepassage.console.models import Role
from safepassage.console.staff import StaffRefused, do_create_staff


class Command(BaseCommand):
    help = "Create a staff account; prints its one-time password (second factor at first login)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--sector", default="")
        parser.add_argument("--language", default="en", choices=["en", "uk", "ru"])

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            user, password = do_create_staff(
                None, options["username"], options["role"], options["sector"], options["language"]
            )
        except StaffRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"username: {user.get_username()}\npassword: {password}")
