from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "safepassage.privacy"
    label = "privacy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from safepassage.privacy import session  # noqa: F401  (connects the login signals)
