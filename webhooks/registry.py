"""Webhook providers by name."""

from schemas.registry import Registry
from webhooks.base import WebhookProvider

providers: Registry[WebhookProvider] = Registry(
    "webhook provider",
    {
        "github": "webhooks.github:GitHubProvider",
        "gitlab": "webhooks.gitlab:GitLabProvider",
        "gitea": "webhooks.gitea:GiteaProvider",
        "bitbucket": "webhooks.bitbucket:BitbucketProvider",
        "bitbucketserver": "webhooks.bitbucketserver:BitbucketServerProvider",
        "distribution": "webhooks.distribution:DistributionProvider",
        "dockerhub": "webhooks.dockerhub:DockerHubProvider",
        "harbor": "webhooks.harbor:HarborProvider",
        "generic": "webhooks.generic:GenericProvider",
    },
)
