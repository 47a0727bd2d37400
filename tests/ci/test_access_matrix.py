"""The access matrix: every route of the app × every kind of caller × their own project and
another, each cell's answer computed from the policy table, checked against the live app."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ci.api.access import FORWARDED
from ci.identity.policy import POLICY, Rule
from ci.identity.roles import ACTIONS, Role
from tests.ci.identity_world import ORGS, OTHER, OWN, Caller, World, build

PLACEHOLDER = re.compile(r"<(?:[^:>]+:)?([^>]+)>")
ALLOWED = "allowed"


@pytest.fixture
def world(client: Any, db: Any, enqueued: Any) -> World:
    return build(client, db)


def fill(rule: str, project: str, world: World) -> str:
    """The rule's path with each placeholder naming something of `project`."""
    names = set(PLACEHOLDER.findall(rule))

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "project_name" or (name == "name" and "project_name" not in names):
            return project
        known = {
            "uuid": world.runs[project],
            "delivery_id": str(world.deliveries[project]),
            "org_name": ORGS[project],
            "token_id": "999999",
        }
        return known.get(name, "nothing-here")

    return PLACEHOLDER.sub(value, rule)


def expected(
    rule: Rule, caller: Caller, project: str, path: str, method: str, endpoint: str = ""
) -> Any:
    """What the policy says `caller` gets: ALLOWED (the view answers), 401, 403, or the
    login page's redirect (302) for a page (a route forwarded to a service: 401)."""
    if not caller.valid:
        page = not path.startswith("/api/") and endpoint not in FORWARDED
        return 302 if page and method == "GET" else 401
    if rule.need == "signed_in":
        return ALLOWED
    role = caller.roles.get(project)
    if rule.need == "server_admin":
        return 403
    if rule.need == "org_admin":
        return ALLOWED if caller.org_admin_of and "admin" in caller.actions else 403
    if rule.need == "org":
        needed = max(ACTIONS[rule.action], Role.MEMBER)
        ok = ORGS[project] in caller.org_admin_of and Role.ADMIN >= needed
        return ALLOWED if ok and rule.action in caller.actions else 403
    ok = role is not None and role >= ACTIONS[rule.action] and rule.action in caller.actions
    return ALLOWED if ok else 403


def cells(app: Any) -> list[tuple[str, str, str, Rule]]:
    """(endpoint, method, rule path, policy rule) of every route that checks a caller; an
    endpoint with several paths is checked on its first, since the rule is the endpoint's."""
    found, seen = [], set()
    for url_rule in app.url_map.iter_rules():
        rule = POLICY[url_rule.endpoint]
        if rule.need == "public":
            continue
        for method in sorted(url_rule.methods - {"HEAD", "OPTIONS"}):
            if (url_rule.endpoint, method) not in seen:
                seen.add((url_rule.endpoint, method))
                found.append((url_rule.endpoint, method, url_rule.rule, rule))
    return found


def test_every_route_of_the_app_declares_its_need_in_the_policy_table(app):
    missing = sorted({r.endpoint for r in app.url_map.iter_rules()} - set(POLICY))

    assert missing == [], f"routes without an entry in ci.identity.policy.POLICY: {missing}"


def test_the_policy_table_names_no_route_the_app_lacks(app):
    assert set(POLICY) - {r.endpoint for r in app.url_map.iter_rules()} == set()


# Over 2,000 requests, about nine statements each: its time is the database's load.
@pytest.mark.timeout(600)
def test_every_cell_of_the_access_matrix_answers_as_the_policy_says(app, world):
    wrong, checked, deleted = [], 0, set()
    client = app.test_client()
    # Deletions go last (the run's own last of all), and in each route the refused callers
    # first: an allowed DELETE of a run would otherwise change what the cells after it find.
    last = sorted(cells(app), key=lambda c: (c[1] == "DELETE", c[0] == "runs.delete_run"))
    for endpoint, method, rule_path, rule in last:
        row = [
            (caller, project, path, expected(rule, caller, project, path, method, endpoint))
            for caller in world.callers.values()
            for project in ((OWN, OTHER) if caller.valid else (OWN,))
            for path in [fill(rule_path, project, world)]
        ]
        for caller, _project, path, want in sorted(row, key=lambda cell: cell[3] == ALLOWED):
            if path in deleted and want == ALLOWED:
                want = 403  # gone now, and what is missing reads as what is not yours
            response = client.open(path, method=method, headers=caller.headers)
            got = response.status_code
            response.close()
            if method == "DELETE" and got < 300:
                deleted.add(path)
            checked += 1
            if got != want and not (want == ALLOWED and got not in (401, 403)):
                wrong.append((caller.name, method, path, endpoint, want, got))
    assert wrong == []
    assert checked > 1000, checked


def test_a_refusal_reads_the_same_whether_or_not_the_thing_exists(client, anonymous_client, world):
    member = world.callers["member"].headers
    theirs = anonymous_client.get(f"/api/v1/runs/{world.runs[OTHER]}", headers=member)
    nowhere = anonymous_client.get(f"/api/v1/runs/{'0' * 32}", headers=member)
    their_project = anonymous_client.get(f"/api/v1/projects/{OTHER}/sources", headers=member)
    no_project = anonymous_client.get("/api/v1/projects/no-such/sources", headers=member)

    assert theirs.status_code == nowhere.status_code == 403
    assert theirs.json["error"]["message"] == nowhere.json["error"]["message"]
    assert their_project.status_code == no_project.status_code == 403
    assert their_project.json["error"]["message"] == no_project.json["error"]["message"]


def test_cross_project_changes_are_all_refused(anonymous_client, world):
    admin = world.callers["admin"].headers
    attempts = [
        ("POST", f"/api/v1/projects/{OTHER}/sources", {"name": "x", "provider": "github"}),
        ("POST", f"/api/v1/projects/{OTHER}/subscriptions", {"name": "x"}),
        ("POST", f"/api/v1/projects/{OTHER}/connections", {"name": "x"}),
        ("PUT", f"/api/v1/projects/{OTHER}/members", {"user": "admin", "role": "owner"}),
        ("POST", f"/api/v1/runs/{world.runs[OTHER]}/stop", None),
        ("DELETE", f"/api/v1/runs/{world.runs[OTHER]}", None),
        ("POST", f"/api/v1/runs/{world.runs[OTHER]}/metrics", {"metrics": {"a": 1}}),
        ("POST", f"/api/v1/deliveries/{world.deliveries[OTHER]}/redeliver", None),
    ]
    answers = [
        anonymous_client.open(path, method=method, json=body, headers=admin).status_code
        for method, path, body in attempts
    ]

    assert answers == [403] * len(attempts)
