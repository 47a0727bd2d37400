"""The run filter: Polyaxon's query syntax over runs, the same on PostgreSQL and SQLite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ci.runs.query import select_runs
from ci.runs.query_terms import QueryError, parse, parse_sort
from ci.store import migrate
from ci.store.db import Database, make_engine
from ci.store.models import Project, Run

T0 = datetime(2026, 1, 15, 8, 0, tzinfo=UTC)


def at(day: str, hour: int = 8) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


# name: (kind, status, created, seconds run, outputs, inputs, extra columns)
RUNS: dict[str, tuple[str, str, datetime, float | None, dict[str, Any], dict[str, Any]]] = {
    "train-resnet": (
        "job",
        "succeeded",
        at("2026-01-10"),
        300,
        {"loss": 0.25, "accuracy": 0.9, "note": "fine"},
        {"lr": 0.01, "model": "resnet", "augment": True},
    ),
    "train-vgg": (
        "job",
        "failed",
        at("2026-01-20"),
        60,
        {"loss": 0.5},
        {"lr": 0.1, "model": "vgg"},
    ),
    # A text where the others have a number: numeric comparisons pass it over, never fail on it.
    "evaluate": ("dag", "running", at("2026-02-10"), None, {"loss": "n/a"}, {}),
    "train-big": ("job", "created", at("2026-03-01"), None, {}, {"model": "big"}),
}


@pytest.fixture(params=[pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"])
def database(request, tmp_path):
    if request.param == "postgresql":
        yield request.getfixturevalue("db")
        return
    engine = make_engine(f"sqlite:///{tmp_path / 'axon.db'}")
    migrate.upgrade(engine)
    yield Database(str(engine.url), engine=engine)
    engine.dispose()


@pytest.fixture
def runs(database) -> dict[str, Run]:
    return arrange(database)


def arrange(database: Database) -> dict[str, Run]:
    """Four runs of project "vision" (the last a pending op of the dag "evaluate"), and one of
    project "other"."""
    with database.session() as session:
        vision, other = Project(name="vision"), Project(name="other")
        session.add_all([vision, other])
        made: dict[str, Run] = {}
        for name, (kind, status, created, seconds, outputs, inputs) in RUNS.items():
            run = Run(
                project=vision,
                name=name,
                kind=kind,
                status=status,
                created_at=created,
                outputs=outputs,
                inputs=inputs,
            )
            if seconds is not None:
                run.started_at = created + timedelta(minutes=5)
                run.finished_at = run.started_at + timedelta(seconds=seconds)
            made[name] = run
            session.add(run)
            session.flush()
        made["train-big"].parent_id = made["evaluate"].id
        made["train-big"].op_name = "train"
        made["train-big"].pending = "approval"
        made["train-vgg"].original_id = made["train-resnet"].id
        made["train-vgg"].cloning_kind = "restart"
        session.add(Run(project=other, name="train-other", status="succeeded", created_at=T0))
    return made


def names(database, text: str | None, project: str | None = "vision", **options: Any) -> Any:
    with database.session() as session:
        project_id = None
        if project:
            project_id = session.query(Project.id).filter(Project.name == project).scalar()
        found = session.scalars(select_runs(session, project_id, text, **options))
        return [run.name for run in found]


ALL = set(RUNS)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ALL),
        ("status:succeeded", {"train-resnet"}),
        ("status: succeeded|failed", {"train-resnet", "train-vgg"}),
        ("status:~succeeded", ALL - {"train-resnet"}),
        ("status:~succeeded|failed", {"evaluate", "train-big"}),
        ("kind:dag", {"evaluate"}),
        ("kind:job, metrics.loss:<0.3", {"train-resnet"}),
        ("metrics.loss:<0.3", {"train-resnet"}),
        ("metrics.loss:>=0.25", {"train-resnet", "train-vgg"}),
        ("metrics.loss:0.5", {"train-vgg"}),
        # Polyaxon: a negated comparison is the opposite comparison, so runs without it stay out.
        ("metrics.loss:~<0.3", {"train-vgg"}),
        ("metrics.accuracy:>0.5", {"train-resnet"}),
        ("outputs.loss:0.5", {"train-vgg"}),
        ("outputs.loss:n/a", {"evaluate"}),
        ("outputs.note:fine|great", {"train-resnet"}),
        ("outputs.loss:nil", {"train-big"}),
        ("outputs.loss:~nil", ALL - {"train-big"}),
        ("outputs.loss:<1", {"train-resnet", "train-vgg"}),
        ("inputs.model:resnet|vgg", {"train-resnet", "train-vgg"}),
        ("params.lr:>0.05", {"train-vgg"}),
        ("params.lr:0.01", {"train-resnet"}),
        ("params.augment:true", {"train-resnet"}),
        ("in.model:~resnet", ALL - {"train-resnet"}),
        ("name:train-resnet", {"train-resnet"}),
        # Polyaxon: `~` negates; on a name it is "not this name", not "contains".
        ("name:~train-resnet", ALL - {"train-resnet"}),
        ("name:TRAIN%", {"train-resnet", "train-vgg", "train-big"}),
        ("name:%vgg", {"train-vgg"}),
        ("name:%esn%", {"train-resnet"}),
        ("name:~train%", {"evaluate"}),
        ("name:train-vgg|evaluate", {"train-vgg", "evaluate"}),
        ("created_at:2026-01-01..2026-02-01", {"train-resnet", "train-vgg"}),
        ("created_at:~2026-01-01..2026-02-01", {"evaluate", "train-big"}),
        ("created_at:>2026-02-01", {"evaluate", "train-big"}),
        ("created_at:2026-01-10", {"train-resnet"}),
        ("created_at:>=2026-01-20 08:00", {"train-vgg", "evaluate", "train-big"}),
        ("created_at:<2026-01-20T08:00:00+00:00", {"train-resnet"}),
        ("finished_at:nil", {"evaluate", "train-big"}),
        ("started_at:~nil", {"train-resnet", "train-vgg"}),
        ("duration:>100", {"train-resnet"}),
        ("duration:<=60", {"train-vgg"}),
        ("pending:approval", {"train-big"}),
        ("pending:~approval", ALL - {"train-big"}),
        ("parent:nil", ALL - {"train-big"}),
        ("op_name:train", {"train-big"}),
        ("cloning_kind:restart", {"train-vgg"}),
        ("project:vision", ALL),
    ],
)
def test_a_query_keeps_the_runs_it_describes(database, runs, query, expected):
    assert set(names(database, query)) == expected


def test_runs_are_found_by_their_uuid_number_parent_and_original(database, runs):
    assert names(database, f"uuid:{runs['evaluate'].uuid}") == ["evaluate"]
    assert names(database, f"id:{runs['train-vgg'].id}") == ["train-vgg"]
    assert names(database, f"parent:{runs['evaluate'].uuid}") == ["train-big"]
    assert names(database, f"original:{runs['train-resnet'].uuid}") == ["train-vgg"]
    assert set(names(database, f"parent:~{runs['evaluate'].uuid}")) == ALL - {"train-big"}


def test_without_a_project_every_projects_runs_are_searched(database, runs):
    assert set(names(database, "status:succeeded", project=None)) == {
        "train-resnet",
        "train-other",
    }
    assert names(database, "project:~vision", project=None) == ["train-other"]


def test_runs_come_newest_first_unless_sorted(database, runs):
    assert names(database, None) == ["train-big", "evaluate", "train-vgg", "train-resnet"]
    assert names(database, None, sort="created_at") == [
        "train-resnet",
        "train-vgg",
        "evaluate",
        "train-big",
    ]


def test_sorting_by_a_metric_puts_runs_without_it_last_either_way(database, runs):
    assert names(database, None, sort="metrics.loss")[:2] == ["train-resnet", "train-vgg"]
    assert names(database, None, sort="-metrics.loss")[:2] == ["train-vgg", "train-resnet"]
    assert names(database, None, sort="-duration")[:2] == ["train-resnet", "train-vgg"]


def test_limit_and_offset_page_through_the_sorted_runs(database, runs):
    assert names(database, None, sort="created_at", limit=2, offset=1) == ["train-vgg", "evaluate"]
    assert names(database, "kind:job", sort="-created_at", limit=1) == ["train-big"]


@pytest.mark.parametrize(
    ("text", "term", "reason"),
    [
        ("statu:succeeded", "statu:succeeded", "unknown field 'statu'; did you mean 'status'?"),
        ("status:succeded", "status:succeded", "no status 'succeded'; did you mean 'succeeded'?"),
        ("kind:job, metrics.loss:<low", "metrics.loss:<low", "expected a number, not 'low'"),
        ("metrics.loss:0.1|0.2", "metrics.loss:0.1|0.2", "`|` is not allowed for this field"),
        ("status:<3", "status:<3", "`<` is not allowed for this field; it takes values"),
        ("created_at:yesterday", "created_at:yesterday", "expected a date (2026-01-31) or time"),
        ("created_at:a|b", "created_at:a|b", "`|` is not allowed for this field"),
        ("created_at:2026-01-01..", "created_at:2026-01-01..", "a range is start..end"),
        ("status", "status", "expected field:operation, as in status:succeeded"),
        ("metrics:<1", "metrics:<1", "metrics names a value: metrics.<name>"),
        ("kind.x:job", "kind.x:job", "kind has no parts to name (kind.x)"),
        ("name:%a%b%", "name:%a%b%", "`%` goes at the start, the end or both ends"),
        ("status:succeeded|", "status:succeeded|", "`|` joins two or more values"),
        ("duration:nan", "duration:nan", "expected a number, not 'nan'"),
    ],
)
def test_a_term_that_cannot_be_read_is_named_with_the_reason(text, term, reason):
    with pytest.raises(QueryError) as caught:
        parse(text)
    assert caught.value.term == term
    assert reason in caught.value.reason
    assert f"query term {term!r}" in str(caught.value)


def test_a_sort_key_that_is_not_a_field_is_named():
    with pytest.raises(QueryError, match=r"query term '-colour': cannot sort by 'colour'"):
        parse_sort("-created_at, -colour")


def test_parsing_keeps_what_each_term_asks():
    [status, loss, when] = parse(
        "status:~succeeded|failed, metrics.loss:~<0.3, created_at:2026-01-01..2026-02-01"
    ).terms
    assert (status.field, status.op, status.negation, status.value) == (
        "status",
        "in",
        True,
        ["succeeded", "failed"],
    )
    assert (loss.field, loss.key, loss.op, loss.negation, loss.value) == (
        "metrics",
        "loss",
        "<",
        True,
        0.3,
    )
    assert when.op == "range"
    assert [d.isoformat() for d in when.value] == [
        "2026-01-01T00:00:00+00:00",
        "2026-02-01T00:00:00+00:00",
    ]


FRAGMENTS = st.sampled_from(
    [
        "status",
        "metrics.loss",
        "outputs.x",
        "params.lr",
        "name",
        "created_at",
        "duration",
        "parent",
        "project",
        "pending",
        "id",
        "uuid",
        "bogus",
        "kind.x",
        ":",
        "~",
        "<",
        ">=",
        "|",
        "..",
        "%",
        ",",
        " ",
        "nil",
        "0.3",
        "-1e9",
        "succeeded",
        "2026-01-01",
        "10:30",
        'x"y',
        "'",
        "$.a",
        "\\",
        "é",
    ]
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.lists(FRAGMENTS, max_size=8).map("".join))
def test_any_query_is_either_refused_with_its_term_or_runs(database, runs, text):
    try:
        parse(text)
    except QueryError as exc:
        assert exc.term and exc.reason
        return
    names(database, text, sort="-metrics.loss,name")


@pytest.fixture
def api_runs(client, db) -> dict[str, Run]:
    """The runs above, in the database the REST API answers from."""
    return arrange(db)


def listed(client, **params: Any) -> Any:
    response = client.get("/api/v1/runs", query_string=params)
    assert response.status_code == 200, response.json
    return [run["name"] for run in response.json]


@pytest.mark.postgres
def test_the_runs_endpoint_filters_sorts_and_pages_with_a_query(client, api_runs):
    query = "kind:job, metrics.loss:<1"

    assert listed(client, query=query, project="vision", sort="-metrics.loss") == [
        "train-vgg",
        "train-resnet",
    ]
    assert listed(client, query="name:train%", sort="created_at", limit=1, offset=1) == [
        "train-other"
    ]
    assert listed(client, query="status:succeeded", status="failed") == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            {"query": "status:sucess|failed"},
            "query term 'status:sucess|failed': no status 'sucess'",
        ),
        ({"query": "metrics.loss:<0.3, flavour:mint"}, "query term 'flavour:mint': unknown field"),
        ({"sort": "-created_at,colour"}, "query term 'colour': cannot sort by 'colour'"),
        ({"offset": "-1"}, "offset: expected a whole number from 0 to 999999999, not '-1'"),
        ({"offset": "9" * 30}, "offset: expected a whole number from 0 to 999999999"),
    ],
)
def test_a_bad_query_gets_400_naming_the_term(client, api_runs, params, message):
    response = client.get("/api/v1/runs", query_string=params)

    assert response.status_code == 400
    assert response.json["error"]["message"].startswith(message)


@pytest.mark.postgres
def test_runs_of_an_unknown_project_get_404(client, api_runs):
    response = client.get("/api/v1/runs", query_string={"project": "nope"})

    assert response.status_code == 404
    assert response.json["error"]["message"] == "no project named 'nope'"
