"""Notifiers by name."""

from notifiers.base import Notifier
from schemas.registry import Registry

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
