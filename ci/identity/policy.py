"""The policy table: every route's endpoint and the need a caller must meet to use it.

A route missing here is refused to all but server admins (and a test fails), so a new route
declares its need before anyone else can reach it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """`need` is one of NEEDS; `action` (read, write, admin) applies to the thing it names;
    `audited` records each successful change in the audit log."""

    need: str
    action: str = "read"
    audited: bool = False


NEEDS = {
    "public": "anyone: the route checks a credential of its own (a signature) or shows nothing",
    "run_token": "the run's own token, or `write` on the project of the run the URL names",
    "signed_in": "any valid credential; what it answers is filtered to what the caller reads",
    "project": "`action` on the project the URL names (`project_name` or `name`)",
    "run": "`action` on the project of the run the URL names (`uuid`)",
    "delivery": "`action` on the project of the delivery's source (`delivery_id`)",
    "org": "org membership (`read`) or org admin (`admin`) in the org the URL names",
    "org_admin": "admin of some org; what it answers is filtered to the orgs administered",
    "server_admin": "a server admin: AXON_API_TOKEN or a user made admin",
}

PUBLIC = Rule("public")
SIGNED_IN = Rule("signed_in")
RUN_TOKEN = Rule("run_token", "write")
SERVER_ADMIN = Rule("server_admin", "admin", audited=True)


def project(action: str = "read", audited: bool = False) -> Rule:
    return Rule("project", action, audited or action != "read")


def run(action: str = "read") -> Rule:
    return Rule("run", action)


def delivery(action: str = "read") -> Rule:
    return Rule("delivery", action)


POLICY: dict[str, Rule] = {
    # open
    "health": PUBLIC,
    "access.login": PUBLIC,
    "access.logout": PUBLIC,
    "oidc_login.start": PUBLIC,
    "oidc_login.callback": PUBLIC,
    "assets.static": PUBLIC,
    "webhooks.receive": PUBLIC,
    # the API's own description, and its docs page
    "openapi.document": SIGNED_IN,
    "api_docs.page": SIGNED_IN,
    "api_docs.document": SIGNED_IN,
    # the run's own reports (ci.api.tracking)
    "tracking.log_inputs": RUN_TOKEN,
    "tracking.log_outputs": RUN_TOKEN,
    "tracking.log_metrics": RUN_TOKEN,
    "tracking.log_system": RUN_TOKEN,
    "tracking.log_tags": RUN_TOKEN,
    "tracking.log_description": RUN_TOKEN,
    "tracking.log_progress": RUN_TOKEN,
    "tracking.log_events": RUN_TOKEN,
    "tracking.upload_artifact": RUN_TOKEN,
    # filtered lists and documents that name no project
    "resources.list_projects": SIGNED_IN,
    "runs.list_runs": SIGNED_IN,
    "deliveries.list_deliveries": SIGNED_IN,
    "specs.check": SIGNED_IN,
    "specs.schema": SIGNED_IN,
    "projects.index": SIGNED_IN,
    "deliveries_page.index": SIGNED_IN,
    "compare.page": SIGNED_IN,
    "compare.metrics_json": SIGNED_IN,
    # projects and what they hold
    "resources.create_project": Rule("org_admin", "admin", audited=True),
    "resources.show_project": project(),
    "resources.list_sources": project(),
    "resources.create_source": project("admin"),
    "connections.list_all": project(),
    "connections.show": project(),
    "connections.create": project("admin"),
    "connections.change": project("admin"),
    "connections.delete": project("admin"),
    "subscriptions.list_all": project(),
    "subscriptions.show": project(),
    "subscriptions.schedules": project(),
    "subscriptions.create": project("write"),
    "subscriptions.apply": project("write"),
    "subscriptions.replace": project("write"),
    "subscriptions.delete": project("write"),
    "subscriptions.pause_or_resume": project("write"),
    "project_runs.create_run": project("write"),
    "notifications.list_project_notifications": project(),
    "identity_api.list_members": project(),
    "identity_api.set_member": project("admin"),
    "identity_api.remove_member": project("admin"),
    # runs
    "runs.show_run": run(),
    "runs.show_events": run(),
    "runs.show_logs": run(),
    "runs.list_children": run(),
    "runs.delete_run": run("admin"),
    "runs.stop": run("write"),
    "approvals.approve": run("write"),
    "project_runs.copy": run("write"),
    "project_runs.restart": run("write"),
    "project_runs.resume": run("write"),
    "artifacts.list_artifacts": run(),
    "artifacts.download_artifact": run(),
    "run_data.show_job_events": run(),
    "run_data.show_metrics": run(),
    "run_data.show_system": run(),
    "run_data.show_tracking": run(),
    "notifications.list_notifications": run(),
    # deliveries
    "deliveries.show_delivery": delivery(),
    "deliveries.redeliver": delivery("write"),
    # pages
    "runs_list.index": project(),
    "runs_list.stream": project(),
    "config_pages.sources": project(),
    "config_pages.subscriptions": project(),
    "config_pages.subscription": project(),
    "run_page.show": run(),
    "run_page.download": run(),
    "run_page.log_stream": run(),
    "run_page.metric_series": run(),
    "run_page.system_series": run(),
    "run_page.stop": run("write"),
    # a service run's pages, forwarded (ci.api.service_proxy): viewers may open them
    "service_proxy.forward": run(),
    "pipeline_page.page": run(),
    "pipeline_page.graph_json": run(),
    "pipeline_page.statuses_json": run(),
    "search_page.page": run(),
    "deliveries_page.show": delivery(),
    "deliveries_page.redeliver": delivery("write"),
    # users, orgs, teams, tokens (ci.api.identity_api)
    "identity_api.whoami": SIGNED_IN,
    "identity_api.list_users": Rule("server_admin"),
    "identity_api.create_user": SERVER_ADMIN,
    "identity_api.disable_user": SERVER_ADMIN,
    "identity_api.enable_user": SERVER_ADMIN,
    "identity_api.list_orgs": SIGNED_IN,
    "identity_api.create_org": SERVER_ADMIN,
    "identity_api.list_org_members": Rule("org", "read"),
    "identity_api.set_org_member": Rule("org", "admin", audited=True),
    "identity_api.remove_org_member": Rule("org", "admin", audited=True),
    "identity_api.list_teams": Rule("org", "read"),
    "identity_api.create_team": Rule("org", "admin", audited=True),
    "identity_api.add_team_member": Rule("org", "admin", audited=True),
    "identity_api.remove_team_member": Rule("org", "admin", audited=True),
    "identity_api.list_tokens": SIGNED_IN,
    "identity_api.create_token": Rule("signed_in", "read", audited=True),
    "identity_api.revoke_token": Rule("signed_in", "read", audited=True),
    "identity_api.list_audit": Rule("org_admin"),
    # run profiles and quotas (ci.api.presets, ci.api.quotas): a quota is set by a server admin,
    # never by those whose runs it limits
    "presets.list_presets": project(),
    "presets.show_preset": project(),
    "presets.create_preset": project("admin"),
    "presets.change_preset": project("admin"),
    "presets.delete_preset": project("admin"),
    "presets.list_queues": project(),
    "presets.set_queue": project("admin"),
    "presets.delete_queue": project("admin"),
    "org_presets.list_org_presets": Rule("org", "read"),
    "org_presets.show_org_preset": Rule("org", "read"),
    "org_presets.create_org_preset": Rule("org", "admin", audited=True),
    "org_presets.change_org_preset": Rule("org", "admin", audited=True),
    "org_presets.delete_org_preset": Rule("org", "admin", audited=True),
    "quotas.project_quotas": project(),
    "quotas.set_project_quota": SERVER_ADMIN,
    "quotas.delete_project_quota": SERVER_ADMIN,
    "quotas.list_quotas": Rule("server_admin"),
    "quotas.set_quota": SERVER_ADMIN,
    "quotas.delete_quota": SERVER_ADMIN,
    "quotas_page.page": project(),
    "connections_page.page": project(),
    "connections_page.create": project("admin"),
    "connections_page.delete": project("admin"),
}

# Routes that are not found at all (no endpoint): a caller must still say who they are first.
UNROUTED = SIGNED_IN
UNDECLARED = Rule("server_admin", "admin")


def rule_for(endpoint: str | None) -> Rule:
    if endpoint is None:
        return UNROUTED
    return POLICY.get(endpoint, UNDECLARED)
