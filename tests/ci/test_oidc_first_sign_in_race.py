"""Two first OpenID Connect sign-ins at the same moment on PostgreSQL: the one that inserts
second waits on the first's uncommitted row, meets the unique constraint once it commits, and
looks again instead of failing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text

from ci.identity import oidc
from ci.store.db import Database
from ci.store.models import User, UserLogin
from tests.conftest import drop_database, fresh_database
from tests.waiting import wait_for

ISSUER = "https://login.example.org"
DEADLINE = 30.0


@pytest.fixture
def databases(postgres: str) -> Iterator[tuple[Database, Database, Database]]:
    """Two sign-ins' connections and an onlooker's, on one fresh database."""
    url = fresh_database("axon_oidc_race")
    found = (Database(url), Database(url), Database(url))
    yield found
    for db in found:
        db.dispose()
    drop_database(url)


def waiting_on_a_lock(onlooker: Database) -> bool:
    with onlooker.session() as session:
        query = text(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return bool(session.scalar(query))


def sign_in_while_another_holds_its_row(
    databases: tuple[Database, Database, Database], first: oidc.Identity, second: oidc.Identity
) -> tuple[Any, Any]:
    """`first` signs in and holds its new rows uncommitted until `second`'s sign-in, in another
    thread, is blocked on them; then `first` commits. Both (user id, name, made)."""
    one, two, onlooker = databases
    answers: dict[str, Any] = {}
    errors: list[BaseException] = []

    def later() -> None:
        try:
            with two.session() as session:
                user, made = oidc.user_for(session, second, match_email=False)
                answers["second"] = (user.id, user.name, made)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    with one.session() as session:
        user, made = oidc.user_for(session, first, match_email=False)
        answers["first"] = (user.id, user.name, made)
        thread = threading.Thread(target=later)
        thread.start()
        wait_for(lambda: waiting_on_a_lock(onlooker), DEADLINE, message="the second sign-in waits")
    thread.join(DEADLINE)
    assert not thread.is_alive(), "the second sign-in hung"
    assert errors == []
    return answers["first"], answers["second"]


def test_two_people_whose_first_sign_ins_pick_one_new_name_at_once_both_get_a_user(databases):
    ada = oidc.Identity(ISSUER, "ada-at-work", "", False, "ada")
    other_ada = oidc.Identity(ISSUER, "ada-at-home", "", False, "ada")

    first, second = sign_in_while_another_holds_its_row(databases, ada, other_ada)

    assert (first[1], first[2]) == ("ada", True)
    assert (second[1], second[2]) == ("ada-2", True)
    with databases[2].session() as session:
        logins = dict(session.execute(select(UserLogin.subject, UserLogin.user_id)).all())
        assert logins == {"ada-at-work": first[0], "ada-at-home": second[0]}


def test_one_person_signing_in_twice_at_once_for_the_first_time_is_one_user(databases):
    ada = oidc.Identity(ISSUER, "ada-at-work", "", False, "ada")

    first, second = sign_in_while_another_holds_its_row(databases, ada, ada)

    assert first[0] == second[0] and (first[2], second[2]) == (True, False)
    with databases[2].session() as session:
        assert list(session.scalars(select(User.name))) == ["ada"]
        assert session.scalar(select(UserLogin.user_id)) == first[0]
