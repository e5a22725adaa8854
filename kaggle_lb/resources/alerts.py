"""Delivery through Apprise (Slack, Teams, Discord, e-mail, JSON webhooks, ...), or the log: the
operators' alerts, and the community's digest, each to its own destinations."""

import apprise
from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field

from kaggle_lb.quality.alerts import Alert, Notice
from kaggle_lb.quality.digest import Digest


def _notify(urls: str, variable: str, title: str, body: str, notify_type: str, body_format: str | None = None) -> bool:
    """Send to every Apprise URL in `urls`; False when any is invalid or any destination refused."""
    notifier = apprise.Apprise()
    for url in urls.replace(",", " ").split():
        if not notifier.add(url):
            # Never echo the URL: it usually embeds a webhook token.
            get_dagster_logger().error(f"a URL in {variable} is not a valid Apprise URL")
            return False
    return bool(notifier.notify(title=title, body=body, notify_type=notify_type, body_format=body_format))


class AlertsResource(ConfigurableResource):
    """Sends alerts to every Apprise URL configured, or logs them when there is none."""

    urls: str | None = Field(
        default=None,
        description="Apprise URLs separated by spaces or commas (KAGGLE_LB_ALERT_URLS); unset logs alerts instead.",
    )
    ui_url: str = Field(
        default="http://127.0.0.1:3000",
        description="Base URL of the Dagster UI for links in alerts (KAGGLE_LB_UI_URL).",
    )

    def send(self, alert: Alert | Notice) -> bool:
        """Deliver one alert or notice; False when any destination refused it (the caller retries later)."""
        title, body = alert.title(), alert.body(self.ui_url)
        if not self.urls:
            log = get_dagster_logger()
            # A recovery or a notice is news, not a problem.
            informative = alert.notify_type in (apprise.NotifyType.SUCCESS, apprise.NotifyType.INFO)
            (log.info if informative else log.warning)(f"{title}\n{body}")
            return True
        return _notify(self.urls, "KAGGLE_LB_ALERT_URLS", title, body, alert.notify_type)


class DigestResource(ConfigurableResource):
    """Posts the community's standings digest (Markdown) to its own Apprise URLs, or logs it."""

    urls: str | None = Field(
        default=None,
        description="Apprise URLs for the community digest, separated by spaces or commas (KAGGLE_LB_DIGEST_URLS); "
        "unset logs the digest instead.",
    )
    top: int = Field(
        default=10, ge=1, description="How many of the top standings the digest lists (KAGGLE_LB_DIGEST_TOP)."
    )

    def send(self, digest: Digest) -> bool:
        if not self.urls:
            get_dagster_logger().info(f"{digest.title}\n{digest.body}")
            return True
        return _notify(
            self.urls,
            "KAGGLE_LB_DIGEST_URLS",
            digest.title,
            digest.body,
            apprise.NotifyType.INFO,
            body_format=apprise.NotifyFormat.MARKDOWN,
        )
