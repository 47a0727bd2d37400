"""`axon users`, `orgs`, `teams`, `members`, `tokens` and `audit`: who may do what, through the
REST API with the caller's own token (AXON_API_TOKEN)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click

from ci.cli.client import call, show
from ci.cli.output import emit, output_option

ROLES = click.Choice(["viewer", "member", "admin", "owner"])
ACTIONS = click.Choice(["read", "write", "admin"])


@click.group()
def users() -> None:
    """Users (a server admin makes them)."""


@users.command("create")
@click.argument("name")
@click.option("--email", default="")
@click.option("--admin", "is_admin", is_flag=True, help="A server admin, allowed everything.")
def create_user(name: str, email: str, is_admin: bool) -> None:
    body = {"name": name, "email": email, "is_admin": is_admin}
    show(call("POST", "/api/v1/users", json=body).json())


@users.command("ls")
@output_option()
def list_users(output: str) -> None:
    rows = call("GET", "/api/v1/users").json()
    emit(
        rows,
        output,
        ("NAME", "EMAIL", "ADMIN", "DISABLED"),
        [(r["name"], r["email"], r["is_admin"], r.get("disabled_at") or "") for r in rows],
    )


@users.command("disable")
@click.argument("name")
def disable_user(name: str) -> None:
    """Refuse the user's tokens and end its sessions, until `axon users enable`."""
    show(call("POST", f"/api/v1/users/{name}/disable").json())


@users.command("enable")
@click.argument("name")
def enable_user(name: str) -> None:
    show(call("POST", f"/api/v1/users/{name}/enable").json())


@users.command("whoami")
def whoami() -> None:
    show(call("GET", "/api/v1/user").json())


@click.group()
def orgs() -> None:
    """Organizations: their members' role applies on every project of the org."""


@orgs.command("create")
@click.argument("name")
def create_org(name: str) -> None:
    show(call("POST", "/api/v1/orgs", json={"name": name}).json())


@orgs.command("ls")
def list_orgs() -> None:
    for org in call("GET", "/api/v1/orgs").json():
        click.echo(org["name"])


@orgs.command("members")
@click.argument("org")
@output_option()
def list_org_members(org: str, output: str) -> None:
    rows = call("GET", f"/api/v1/orgs/{org}/members").json()
    emit(rows, output, ("USER", "ROLE"), [(r["user"], r["role"]) for r in rows])


@orgs.command("add")
@click.argument("org")
@click.argument("user")
@click.option("--role", type=click.Choice(["member", "admin", "owner"]), default="member")
def add_org_member(org: str, user: str, role: str) -> None:
    show(call("PUT", f"/api/v1/orgs/{org}/members", json={"user": user, "role": role}).json())


@orgs.command("rm")
@click.argument("org")
@click.argument("user")
def remove_org_member(org: str, user: str) -> None:
    call("DELETE", f"/api/v1/orgs/{org}/members/{user}")
    click.echo(f"removed {user} from {org}")


@click.group()
def teams() -> None:
    """Teams of an org: a team given a role on a project gives it to each of its members."""


@teams.command("create")
@click.argument("org")
@click.argument("name")
def create_team(org: str, name: str) -> None:
    show(call("POST", f"/api/v1/orgs/{org}/teams", json={"name": name}).json())


@teams.command("ls")
@click.argument("org")
@output_option()
def list_teams(org: str, output: str) -> None:
    rows = call("GET", f"/api/v1/orgs/{org}/teams").json()
    emit(rows, output, ("TEAM", "MEMBERS"), [(r["name"], ",".join(r["members"])) for r in rows])


@teams.command("add")
@click.argument("org")
@click.argument("team")
@click.argument("user")
def add_team_member(org: str, team: str, user: str) -> None:
    show(call("PUT", f"/api/v1/orgs/{org}/teams/{team}/members", json={"user": user}).json())


@teams.command("rm")
@click.argument("org")
@click.argument("team")
@click.argument("user")
def remove_team_member(org: str, team: str, user: str) -> None:
    call("DELETE", f"/api/v1/orgs/{org}/teams/{team}/members/{user}")
    click.echo(f"removed {user} from team {team}")


@click.group()
def members() -> None:
    """A project's members: users and teams with a role (viewer < member < admin < owner)."""


@members.command("ls")
@click.argument("project")
@output_option()
def list_members(project: str, output: str) -> None:
    rows = call("GET", f"/api/v1/projects/{project}/members").json()
    table = [(r["user"] or f"team:{r['team']}", r["role"]) for r in rows]
    emit(rows, output, ("MEMBER", "ROLE"), table)


@members.command("set")
@click.argument("project")
@click.option("--user", default=None)
@click.option("--team", default=None)
@click.option("--role", type=ROLES, required=True)
def set_member(project: str, user: str | None, team: str | None, role: str) -> None:
    if (user is None) == (team is None):
        raise click.UsageError("give exactly one of --user or --team")
    body: dict[str, Any] = {"role": role, **({"user": user} if user else {"team": team})}
    show(call("PUT", f"/api/v1/projects/{project}/members", json=body).json())


@members.command("rm")
@click.argument("project")
@click.option("--user", default=None)
@click.option("--team", default=None)
def remove_member(project: str, user: str | None, team: str | None) -> None:
    if (user is None) == (team is None):
        raise click.UsageError("give exactly one of --user or --team")
    kind, name = ("user", user) if user else ("team", team)
    call("DELETE", f"/api/v1/projects/{project}/members/{kind}/{name}")
    click.echo(f"removed {kind} {name} from {project}")


@click.group()
def tokens() -> None:
    """Personal access tokens: shown once when made; only their prefix is shown after."""


@tokens.command("create")
@click.option("--name", default="", help="What the token is for.")
@click.option("--project", "projects", multiple=True, help="Only these projects (repeatable).")
@click.option("--action", "actions", type=ACTIONS, multiple=True, help="Only these actions.")
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None)
@click.option("--user", default=None, help="For another user (a server admin only).")
def create_token(
    name: str,
    projects: tuple[str, ...],
    actions: tuple[str, ...],
    expires_in_days: int | None,
    user: str | None,
) -> None:
    body: dict[str, Any] = {"name": name}
    if projects or actions:
        body["scopes"] = {
            "projects": list(projects) or None,
            "actions": list(actions) or ["read", "write", "admin"],
        }
    if expires_in_days:
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=expires_in_days)).isoformat()
    if user:
        body["user"] = user
    made = call("POST", "/api/v1/user/tokens", json=body).json()
    click.echo(f"token {made['id']} ({made['prefix']}…), shown only now:\n{made['token']}")


@tokens.command("ls")
@output_option()
def list_tokens(output: str) -> None:
    rows = call("GET", "/api/v1/user/tokens").json()
    table = [
        (
            r["id"],
            r["name"],
            r["prefix"] + "…",
            ",".join(r["scopes"]["actions"]),
            ",".join(r["scopes"]["projects"] or ["*"]),
            r["expires_at"] or "never",
            r["last_used_at"] or "never",
            "revoked" if r["revoked_at"] else "",
        )
        for r in rows
    ]
    headers = ("ID", "NAME", "PREFIX", "ACTIONS", "PROJECTS", "EXPIRES", "LAST USED", "")
    emit(rows, output, headers, table)


@tokens.command("revoke")
@click.argument("token_id", type=int)
def revoke_token(token_id: int) -> None:
    call("DELETE", f"/api/v1/user/tokens/{token_id}")
    click.echo(f"revoked token {token_id}")


@click.command("audit")
@click.option("--limit", type=click.IntRange(1, 500), default=50)
@output_option()
def audit(limit: int, output: str) -> None:
    """Who changed sources, subscriptions, connections, members and tokens (org admins)."""
    rows = call("GET", "/api/v1/audit", params={"limit": limit}).json()
    table = [(r["at"], r["actor"], r["action"], r["project"] or "", r["target"]) for r in rows]
    emit(rows, output, ("AT", "WHO", "ACTION", "PROJECT", "TARGET"), table)


GROUPS = (users, orgs, teams, members, tokens)
