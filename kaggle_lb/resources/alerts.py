"""Alert delivery through Apprise (Slack, Teams, Discord, e-mail, JSON webhooks, ...), or the log."""

import apprise
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from kaggle_lb.quality.alerts import Alert, Notice


class AlertsResource(ConfigurableResource):
    """Sends alerts to every Apprise URL configured, or logs them when there is none."""

    urls: str | None = Field(
        default=None,
        description="Apprise URLs separated by spaces or commas (KAGGLE_LB_ALERT_URLS); unset logs alerts instead.",
    )
    ui_url: str = Field(
        default="http://127.0.0.1:3000", description="Base URL of the Dagster UI for links in alerts (KAGGLE_LB_UI_URL)."
    )

    def send(self, alert: Alert | Notice) -> bool:
        """Deliver one alert or notice; False when any destination refused it (the caller retries later)."""
        title, body = alert.title(), alert.body(self.ui_url)
        if not self.urls:
            log = get_dagster_logger()
            (log.info if alert.recovered else log.warning)(f"{title}\n{body}")
            return True
        notifier = apprise.Apprise()
        for url in self.urls.replace(",", " ").split():
            if not notifier.add(url):
                # Never echo the URL: it usually embeds a webhook token.
                get_dagster_logger().error("an alert URL in KAGGLE_LB_ALERT_URLS is not a valid Apprise URL")
                return False
        return bool(notifier.notify(title=title, body=body, notify_type=alert.notify_type))
