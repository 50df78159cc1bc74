from django.apps import AppConfig


class ChannelsConfig(AppConfig):
    name = "safepassage.channels"
    label = "channels"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from safepassage.analytics import service
        from safepassage.cases import delivery
        from safepassage.channels.telegram import health, outbox
        from safepassage.web import service_health

        delivery.register("telegram", outbox.deliver_operator_reply, outbox.outbox_states)
        service.register_probe("telegram.outbox", health.outbox_gauges)
        service_health.register_backlog(outbox.backlogs)
