"""Notifiers by name."""

from notifiers.base import Notifier
from schemas.registry import Registry

notifiers: Registry[Notifier] = Registry(
    "notifier",
    {
        "github": "notifiers.github:GitHubNotifier",
        "slack": "notifiers.slack:SlackNotifier",
    },
)
