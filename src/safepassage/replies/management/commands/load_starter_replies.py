"""Add the starter vetted replies that are missing (all unreviewed); idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from safepassage.replies.services import load_starter


class Command(BaseCommand):
    help = "Add the starter vetted replies that are missing; never changes an existing one."

    def handle(self, *args: Any, **options: Any) -> None:
        added = load_starter()
        self.stdout.write(f"{added} starter texts added (unreviewed)")
