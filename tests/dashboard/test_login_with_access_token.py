"""A user logs in to the pages with their personal access token and sees only their projects."""

from __future__ import annotations

from sqlalchemy import select

from ci.identity import tokens
from ci.store.models import Project, ProjectMember, User
from tests.dashboard import seed


def user_with_token(site, name: str, project: str, role: str) -> str:
    with site.db.session() as session:
        user = User(name=name)
        session.add(user)
        session.flush()
        project_id = session.scalar(select(Project.id).where(Project.name == project))
        session.add(ProjectMember(project_id=project_id, user_id=user.id, role=role))
        _row, token = tokens.issue(session, user, "pages", tokens.Scopes.parse(None), None)
        return token


def test_a_user_logged_in_with_their_token_sees_only_the_projects_they_may_read(browser, site):
    seed.project(site.db, "token-mine", "readable")
    seed.project(site.db, "token-theirs", "not readable")
    token = user_with_token(site, "pat-viewer", "token-mine", "viewer")

    browser.log_in(token).open("/")

    assert browser.find("tr[data-project=token-mine]")
    assert browser.all("tr[data-project=token-theirs]") == []
    browser.driver.save_screenshot("tests/.artifacts/screenshots/login_with_access_token.png")
