"""The index decides only the subscriptions that could match, and misses none that do."""

from __future__ import annotations

import dataclasses

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.event import Event, PullRequest
from tests.triggers.recorded import github_event
from triggers.index import SubscriptionIndex
from triggers.subscription import compile_subscription, evaluate

SPECS = {
    "model-main": {"repo": "Codertocat/Hello-World", "on": {"push": {"branches": ["master"]}}},
    "model-release": {"repo": "Codertocat/Hello-World", "on": {"push": {"branches": "release/**"}}},
    "model-tags": {"repo": "Codertocat/Hello-World", "on": {"push": {"tags": ["v*"]}}},
    "org-wide": {"repo": "Codertocat/*", "on": {"push": {"branches-ignore": ["docs/**"]}}},
    "other-repo": {"repo": "octo/vision", "on": "push"},
    "gitlab-only": {"provider": "gitlab", "on": "push"},
    "pull-requests": {"repo": "Codertocat/Hello-World", "on": "pull_request"},
    "nightly": {"repo": "octo/vision", "on": {"schedule": {"cron": "0 3 * * *"}}},
}


def index_of(specs=SPECS):
    subscriptions = [
        compile_subscription(number, name, spec)
        for number, (name, spec) in enumerate(specs.items(), start=1)
    ]
    return SubscriptionIndex(subscriptions), subscriptions


def names(subscriptions):
    return [s.name for s in subscriptions]


def test_a_push_finds_only_the_subscriptions_that_could_match_it():
    index, _ = index_of()
    event = github_event("push_branch_commits")  # Codertocat/Hello-World, master
    assert names(index.candidates(event)) == ["model-main", "org-wide"]


def test_the_passed_over_subscriptions_are_counted_with_the_reason():
    index, _ = index_of()
    lookup = index.lookup(github_event("push_branch_commits"))
    assert (lookup.total, lookup.listening, lookup.other_events, lookup.other_refs) == (8, 4, 4, 2)
    assert lookup.summary() == (
        "not candidates: 4 listen to other events or repositories; "
        "2 listen to push events of Codertocat/Hello-World but not to branch 'master'"
    )


def test_a_tag_push_leaves_out_subscriptions_that_filter_only_branches():
    index, _ = index_of()
    event = github_event("push_tag_created", repo="Codertocat/Hello-World")  # tag v0.0.1
    assert names(index.candidates(event)) == ["model-tags"]


def test_a_provider_filter_files_a_subscription_under_that_provider():
    index, _ = index_of()
    event = github_event("push_branch_commits", provider="gitlab", repo="someone/else")
    assert names(index.candidates(event)) == ["gitlab-only"]


def test_a_schedule_event_finds_the_subscriptions_with_a_schedule():
    index, _ = index_of()
    event = Event(kind="schedule", provider="schedule", scheduled_at="2026-03-02T03:00:00+00:00")
    assert names(index.candidates(event)) == ["nightly"]


def test_the_index_decides_candidates_exactly_as_the_plain_evaluation():
    index, subscriptions = index_of()
    event = github_event("push_branch_commits")
    plain = {d.subscription_id: d for d in evaluate(event, subscriptions)}
    decided = index.evaluate(event)
    assert [d.subscription for d in decided] == ["model-main", "org-wide"]
    assert all(d == plain[d.subscription_id] for d in decided)
    assert {d.subscription for d in decided if d.matched} == {
        d.subscription for d in plain.values() if d.matched
    }


def test_when_every_subscription_is_a_candidate_the_summary_says_so():
    index, _ = index_of({"all": {"on": "pull_request"}})
    assert index.lookup(github_event("pull_request_opened")).summary() == (
        "every subscription is a candidate"
    )


# Property: for random subscriptions and events, the index matches what the scan matches.

REPOS = ["octo/model", "octo/data", "acme/vision"]
GLOBS = ["main", "master", "release/**", "release/*", "feature/*", "**", "*", "dev?", "v[12]*"]
BRANCHES = ["main", "master", "release/1.0", "release/1.0/rc", "feature/x", "dev", "devs", ""]
TAGS = ["v1.0", "v2", "release/1", "x", ""]
IMAGES = ["ghcr.io/octo/model", "ghcr.io/acme/x", "registry:5000/octo/model"]


def patterns():
    listed = st.lists(st.sampled_from(GLOBS + ["!" + g for g in GLOBS]), min_size=1, max_size=3)
    return st.one_of(st.sampled_from(GLOBS), listed)


def optional(**fields):
    """A mapping holding any subset of `fields`."""
    return st.fixed_dictionaries({}, optional=fields)


REFS = {"branches": patterns(), "tags": patterns()}
IGNORES = {"branches-ignore": patterns(), "tags-ignore": patterns()}
ON = {
    "push": st.one_of(st.none(), optional(**REFS), optional(**IGNORES, paths=st.just(["src/**"]))),
    "pull_request": optional(
        branches=patterns(),
        types=st.just(["opened", "closed"]),
        labels=st.just(["gpu"]),
        forks=st.just("allow"),
    ),
    "release": optional(tags=patterns()),
    "registry": optional(images=st.sampled_from(["ghcr.io/octo/*", "**/model"]), tags=patterns()),
    "comment": st.just({"commands": ["rerun"]}),
    "create": optional(**REFS),
    "rerequest": optional(**{"branches-ignore": patterns()}),
    "schedule": st.just([{"interval": 600}]),
}
SUBSCRIPTION = optional(
    repo=st.one_of(
        st.sampled_from(REPOS + ["octo/*", "**"]),
        st.lists(st.sampled_from(REPOS), min_size=1, max_size=2),
        st.just(["octo/*", "!octo/data"]),
    ),
    provider=st.sampled_from(["github", ["github", "gitlab"]]),
).flatmap(
    lambda trigger: st.dictionaries(
        st.sampled_from(sorted(ON)), st.none(), min_size=1, max_size=3
    ).flatmap(
        lambda keys: st.fixed_dictionaries({key: ON[key] for key in keys}).map(
            lambda on: {**trigger, "on": on}
        )
    )
)


@st.composite
def events(draw):
    kind = draw(
        st.sampled_from(
            ["push", "tag", "pull_request", "release", "registry"] * 2
            + ["comment", "create", "rerequest", "schedule"]
        )
    )
    if kind == "schedule" and draw(st.booleans()):
        return Event(kind="schedule", provider="schedule")  # else as a generic hook sends it
    branch, tag = draw(st.sampled_from(BRANCHES)), draw(st.sampled_from(TAGS))
    event = Event(
        kind=kind,
        provider=draw(st.sampled_from(["github", "gitlab"])),
        repo=draw(st.sampled_from(REPOS + ["other/repo"])),
        branch=branch if kind != "tag" else "",
        tag=tag if kind in ("tag", "release", "create") else "",
        changed_paths=draw(st.sampled_from([None, ("src/a.py",), ("README.md",)])),
        image=draw(st.sampled_from(IMAGES)) if kind == "registry" else "",
        image_tag=tag if kind == "registry" else "",
        comment="/axon rerun" if kind == "comment" else "",
        author_association="OWNER",
        raw={"action": "published"},
    )
    if kind in ("pull_request", "comment"):
        action = draw(st.sampled_from(["opened", "closed", "labeled"]))
        labels = draw(st.sampled_from([(), ("gpu",)]))
        pr = PullRequest(number=1, action=action, base=branch, labels=labels)
        event = dataclasses.replace(event, pull_request=pr)
    return event


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(specs=st.lists(SUBSCRIPTION, min_size=1, max_size=12), event=events())
def test_the_index_matches_exactly_what_the_plain_evaluation_matches(specs, event):
    subscriptions = [compile_subscription(n, f"s{n}", spec) for n, spec in enumerate(specs)]
    index = SubscriptionIndex(subscriptions)
    plain = evaluate(event, subscriptions)
    decided = index.evaluate(event)
    assert {d.subscription_id for d in decided if d.matched} == {
        d.subscription_id for d in plain if d.matched
    }
    assert all(d == plain[d.subscription_id] for d in decided)
    lookup = index.lookup(event)
    assert len(lookup.candidates) <= lookup.listening <= lookup.total == len(subscriptions)


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    before=st.lists(SUBSCRIPTION, min_size=1, max_size=10),
    after=st.lists(SUBSCRIPTION, min_size=1, max_size=10),
    kept=st.lists(st.booleans(), min_size=10, max_size=10),
    event=events(),
)
def test_an_index_with_some_subscriptions_replaced_finds_what_a_new_one_would(
    before, after, kept, event
):
    """Ids that `kept` marks keep their subscription from `before`; the others get theirs from
    `after`, or are gone where `after` has none; `after` may add ids `before` did not have."""
    old = {n: compile_subscription(n, f"s{n}", spec) for n, spec in enumerate(before)}
    new = {n: compile_subscription(n, f"s{n}", spec) for n, spec in enumerate(after)}
    now = {n: old[n] if n in old and kept[n] else new.get(n) for n in old.keys() | new.keys()}
    now = {n: s for n, s in now.items() if s is not None}
    index = SubscriptionIndex(old.values())
    changed = [n for n in old if now.get(n) is not old[n]]
    added = [s for n, s in now.items() if old.get(n) is not s]

    replaced = index.replaced(changed, added)

    built = SubscriptionIndex(sorted(now.values(), key=lambda s: s.id))
    assert replaced.lookup(event) == built.lookup(event)
    assert index.lookup(event) == SubscriptionIndex(old.values()).lookup(event)
