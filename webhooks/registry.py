"""Webhook providers by name."""

from schemas.registry import Registry
from webhooks.base import WebhookProvider

providers: Registry[WebhookProvider] = Registry(
    "webhook provider",
    {
        "github": "webhooks.github:GitHubProvider",
    },
)
