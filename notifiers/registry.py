"""Notifiers by name."""

from notifiers.base import Notifier
from schemas.registry import Registry
from schemas.settings import PluginSettings

notifiers: Registry[Notifier] = Registry(
    "notifier",
    {
        "checks": "notifiers.github_checks:GitHubChecksNotifier",
        "comment": "notifiers.github_comment:GitHubCommentNotifier",
        "discord": "notifiers.discord:DiscordNotifier",
        "email": "notifiers.email:EmailNotifier",
        "github": "notifiers.github:GitHubNotifier",
        "gitlab": "notifiers.gitlab:GitLabNotifier",
        "mattermost": "notifiers.mattermost:MattermostNotifier",
        "note": "notifiers.gitlab_note:GitLabNoteNotifier",
        "pagerduty": "notifiers.pagerduty:PagerDutyNotifier",
        "slack": "notifiers.slack:SlackNotifier",
        "webhook": "notifiers.webhook:WebhookNotifier",
    },
)

# Each notifier's own settings model (targets on one API share their model).
settings: Registry[PluginSettings] = Registry(
    "notifier settings",
    {
        "checks": "notifiers.github_api:GitHubSettings",
        "comment": "notifiers.github_api:GitHubSettings",
        "discord": "notifiers.discord:DiscordSettings",
        "email": "notifiers.email:EmailSettings",
        "github": "notifiers.github_api:GitHubSettings",
        "gitlab": "notifiers.gitlab_api:GitLabSettings",
        "mattermost": "notifiers.mattermost:MattermostSettings",
        "note": "notifiers.gitlab_api:GitLabSettings",
        "pagerduty": "notifiers.pagerduty:PagerDutySettings",
        "slack": "notifiers.slack:SlackSettings",
        "webhook": "notifiers.webhook:WebhookSettings",
    },
)
