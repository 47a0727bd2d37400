"""The tables: projects, sources, subscriptions, deliveries and their decisions, runs.

One module per part of the house they serve: projects, admission, intake, runs, reporting,
schedules and identity, with what their columns share in `columns`. Importing this package
registers every table on `Base.metadata`, which the migrations are compared with; every model is
imported from here.
"""

from ci.store.models.admission import OrgPreset, Preset, ProfileVersion, Quota, RunQueue
from ci.store.models.columns import Json, new_uuid
from ci.store.models.identity import (
    AccessToken,
    AuditEntry,
    Organization,
    OrgMember,
    ProjectMember,
    Team,
    TeamMember,
    User,
    UserLogin,
)
from ci.store.models.intake import BrokerProbe, Decision, Delivery, OutboxEntry
from ci.store.models.projects import Connection, Project, Source, Subscription, SubscriptionVersion
from ci.store.models.reporting import Notification, NotificationAttempt, ProgressReport
from ci.store.models.runs import Condition, MetricChunk, Run, RunEvent, RunTracking
from ci.store.models.schedules import Schedule, ScheduleFire

__all__ = [
    "AccessToken",
    "AuditEntry",
    "BrokerProbe",
    "Condition",
    "Connection",
    "Decision",
    "Delivery",
    "Json",
    "MetricChunk",
    "Notification",
    "NotificationAttempt",
    "OrgMember",
    "OrgPreset",
    "Organization",
    "OutboxEntry",
    "Preset",
    "ProfileVersion",
    "ProgressReport",
    "Project",
    "ProjectMember",
    "Quota",
    "Run",
    "RunEvent",
    "RunQueue",
    "RunTracking",
    "Schedule",
    "ScheduleFire",
    "Source",
    "Subscription",
    "SubscriptionVersion",
    "Team",
    "TeamMember",
    "User",
    "UserLogin",
    "new_uuid",
]
