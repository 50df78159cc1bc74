from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "safepassage.conversations"
    label = "conversations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from safepassage.conversations import checks  # noqa: F401  (registers system checks)
