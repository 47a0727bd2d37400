"""One writer per state machine: only it assigns a run's or a delivery's status, a
notification's state or a schedule's, and its table of moves covers every state."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from enum import StrEnum
from itertools import repeat
from pathlib import Path

import pytest

from ci.intake import delivery_state
from ci.reporting import attempts
from ci.schedules import state
from ci.store import models
from ci.store.models import Delivery, Notification, Schedule
from schemas.status import DeliveryStatus, NotificationState, RunStatus, ScheduleState

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("ci", "webhooks", "triggers")

WRITERS = {
    "run": "ci/runs/lifecycle.py",
    "delivery": "ci/intake/delivery_state.py",
    "notification": "ci/reporting/attempts.py",
    "schedule": "ci/schedules/state.py",
}
ENUMS: dict[str, type[StrEnum]] = {
    "run": RunStatus,
    "delivery": DeliveryStatus,
    "notification": NotificationState,
    "schedule": ScheduleState,
}
# The models whose rows hold a machine's state, and the column it is in.
MODELS = {
    "Run": ("run", "status"),
    "Condition": ("run", "status"),
    "Delivery": ("delivery", "status"),
    "Notification": ("notification", "state"),
    "NotificationAttempt": ("notification", "state"),
    "Schedule": ("schedule", "state"),
}
TABLES = {
    "runs": "Run",
    "conditions": "Condition",
    "deliveries": "Delivery",
    "notifications": "Notification",
    "notification_attempts": "NotificationAttempt",
    "schedules": "Schedule",
}
# Whose state a column of that name may be, when the row's model is not known.
COLUMNS = {
    "status": frozenset({"run", "delivery"}),
    "state": frozenset({"notification", "schedule"}),
}
RAW_SQL = re.compile(
    rf"\b(update\s+({'|'.join(TABLES)})\b.*\bset\b.*\b(status|state)\b"
    rf"|insert\s+into\s+({'|'.join(TABLES)})\b)",
    re.IGNORECASE | re.DOTALL,
)


class Module:
    """The state writes of one module: (line, machines it may be writing, what it is)."""

    def __init__(self, tree: ast.Module) -> None:
        self.models: dict[str, str] = {}  # local name -> model class name
        self.enums: dict[str, str] = {}  # local name -> machine of a state enum
        self.model_modules: set[str] = set()  # local names of ci.store.models
        self.found: list[tuple[int, frozenset[str], str]] = []
        self._imports(tree)
        self.tree = tree

    def _imports(self, tree: ast.Module) -> None:
        by_enum = {enum.__name__: machine for machine, enum in ENUMS.items()}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module in (
                "ci.store.models",
                "schemas.status",
            ):
                for alias in node.names:
                    local = alias.asname or alias.name
                    if alias.name in MODELS:
                        self.models[local] = alias.name
                    elif alias.name in by_enum:
                        self.enums[local] = by_enum[alias.name]
            elif isinstance(node, ast.ImportFrom) and node.module == "ci.store":
                self.model_modules |= {a.asname or a.name for a in node.names if a.name == "models"}
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == "ci.store.models":
                        self.model_modules.add(alias.asname or alias.name)
        for stmt in tree.body:  # `S = RunStatus`
            if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Name):
                for target in stmt.targets:
                    if isinstance(target, ast.Name) and stmt.value.id in self.enums:
                        self.enums[target.id] = self.enums[stmt.value.id]

    def scan(self) -> list[tuple[int, frozenset[str], str]]:
        outer = self._scope(self.tree.body, {})
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                kinds = dict(outer)
                for arg in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs):
                    if arg.annotation is not None and (model := self.model_of(arg.annotation)):
                        kinds[arg.arg] = model
                self._scope(node.body, kinds)
        return self.found

    def _scope(self, body: list[ast.stmt], kinds: dict[str, str]) -> dict[str, str]:
        """Check one scope's own nodes, knowing the names it binds to a model's rows."""
        nodes = list(_own(body))
        for node in nodes:
            for target, value in _assigned(node):
                if isinstance(target, ast.Name) and (model := self.model_of(value, kinds)):
                    kinds.setdefault(target.id, model)
        for node in nodes:
            for target, _value in _assigned(node):
                self._attribute(target, kinds)
            if isinstance(node, ast.Call):
                self._call(node, kinds)
            elif isinstance(node, ast.Dict):
                self._dict(node)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                if sql := RAW_SQL.search(node.value):
                    table = (sql.group(2) or sql.group(4)).lower()
                    self._found(node, {MODELS[TABLES[table]][0]}, "SQL")
        return kinds

    def model_of(self, expr: ast.AST, kinds: dict[str, str] | None = None) -> str | None:
        """The model whose rows (or statement) `expr` is, by the first one it mentions."""
        for node in ast.walk(expr):
            if isinstance(node, ast.Name) and node.id in self.models:
                return self.models[node.id]
            if isinstance(node, ast.Name) and node.id in (kinds or {}):
                return (kinds or {})[node.id]
            if (model := self._model_class(node)) is not None:
                return model
            if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
                if _dotted(node.value).endswith("tables") and node.slice.value in TABLES:
                    return TABLES[node.slice.value]
        return None

    def _model_class(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.models.get(node.id)
        if (
            isinstance(node, ast.Attribute)
            and node.attr in MODELS
            and isinstance(node.value, ast.Name)
            and node.value.id in self.model_modules
        ):
            return node.attr
        return None

    def literal(self, column: str, value: ast.expr) -> frozenset[str]:
        """The machines whose state `value` names under `column`; empty if it names none."""
        if isinstance(value, ast.Attribute) and isinstance(value.value, ast.Name):
            machine = self.enums.get(value.value.id)
            return frozenset({machine}) & COLUMNS[column] if machine else frozenset()
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return frozenset(m for m in COLUMNS[column] if value.value in set(ENUMS[m]))
        return frozenset()

    def _attribute(self, target: ast.expr, kinds: dict[str, str]) -> None:
        if not isinstance(target, ast.Attribute) or target.attr not in COLUMNS:
            return
        if isinstance(target.value, ast.Name) and target.value.id == "self":
            return  # an object's own field: the models have no methods that set their state
        model = self.model_of(target.value, kinds)
        if model is None:
            self._found(target, COLUMNS[target.attr], f"`.{target.attr} =`")
        elif MODELS[model][1] == target.attr:
            self._found(target, {MODELS[model][0]}, f"`{model}.{target.attr} =`")

    def _call(self, call: ast.Call, kinds: dict[str, str]) -> None:
        name = _name(call.func)
        if (model := self._model_class(call.func)) is not None:
            machine, column = MODELS[model]
            if any(keyword.arg == column for keyword in call.keywords):
                self._found(call, {machine}, f"`{model}({column}=...)`")
        if name == "values" and isinstance(call.func, ast.Attribute):
            self._values(call, self.model_of(call.func.value, kinds))
        if name in ("dict", "update", "values"):
            for keyword in call.keywords:
                if keyword.arg in COLUMNS:
                    self._found(call, self.literal(keyword.arg, keyword.value), "a keyword")
        if name == "setattr" and len(call.args) > 1:
            attr = call.args[1]
            if isinstance(attr, ast.Constant) and attr.value in COLUMNS:
                self._found(call, COLUMNS[attr.value], f"setattr(..., {attr.value!r})")

    def _values(self, call: ast.Call, model: str | None) -> None:
        """`insert(Model).values(...)`, `update(Model).values(...)`, by keyword or dict."""
        if model is None:
            return
        machine, column = MODELS[model]
        named = [keyword.arg for keyword in call.keywords]
        for arg in call.args:
            if isinstance(arg, ast.Dict):
                named += [key.value for key in arg.keys if isinstance(key, ast.Constant)]
        if column in named:
            self._found(call, {machine}, f"`{model}` values")

    def _dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and key.value in COLUMNS:
                self._found(node, self.literal(key.value, value), f"a {key.value!r} entry")

    def _found(self, node: ast.AST, machines: set[str] | frozenset[str], what: str) -> None:
        if machines:
            self.found.append((getattr(node, "lineno", 0), frozenset(machines), what))


def _own(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The nodes of one scope, not those of the functions defined in it."""
    functions = ast.FunctionDef | ast.AsyncFunctionDef
    stack: list[ast.AST] = [stmt for stmt in body if not isinstance(stmt, functions)]
    while stack:
        node = stack.pop()
        yield node
        stack += [c for c in ast.iter_child_nodes(node) if not isinstance(c, functions)]


def _assigned(node: ast.AST) -> Iterator[tuple[ast.expr, ast.expr]]:
    if isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign) and node.value is not None:
        for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
            yield from _pairs(target, node.value)


def _pairs(target: ast.expr, value: ast.expr) -> Iterator[tuple[ast.expr, ast.expr]]:
    """Each part of an assignment's target with the value it gets: `a.x, b.y = 1, 2`."""
    if isinstance(target, ast.Tuple | ast.List):
        values = value.elts if isinstance(value, ast.Tuple | ast.List) else repeat(value)
        for part, part_value in zip(target.elts, values, strict=False):
            yield from _pairs(part, part_value)
    else:
        yield target, value


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _name(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else _dotted(func)


def violations(path: str, source: str) -> list[str]:
    """What `source`, the module at `path`, writes of a state machine it is not the writer of."""
    mine = {machine for machine, writer in WRITERS.items() if writer == path}
    found = {}
    for line, machines, what in Module(ast.parse(source)).scan():
        if not machines & mine:
            found.setdefault(line, (machines, what))
    return [
        f"{path}:{line}: {what} writes the {' or '.join(sorted(machines))} state; "
        f"only {' or '.join(WRITERS[m] for m in sorted(machines))} may"
        for line, (machines, what) in sorted(found.items())
    ]


def test_only_each_machine_s_writer_assigns_its_state():
    found = []
    for folder in SCANNED:
        for file in sorted((ROOT / folder).rglob("*.py")):
            path = file.relative_to(ROOT).as_posix()
            found += violations(path, file.read_text())
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        "def f(run: Run):\n    run.status = RunStatus.FAILED\n",
        "def f(session):\n    d = session.get(Delivery, 1)\n    d.status = 'failed'\n",
        "def f(row):\n    row.state, row.reason = 'paused', ''\n",
        "def f(x):\n    setattr(x, 'status', 'failed')\n",
        "def f(session):\n    session.execute(update(Run).values(status=S.QUEUED))\n",
        "def f(session):\n    session.execute(update(models.Run).values({'status': s}))\n",
        "def f(session):\n    session.add(Notification(run_id=1, state=state))\n",
        "def f(session):\n    session.add(ScheduleRow(entry=0, state='ended'))\n",
        "def f():\n    return {'provider': 'github', 'status': 'received'}\n",
        "def f(values):\n    values.update(status='malformed')\n",
        "T = Base.metadata.tables['deliveries']\nQ = insert(T).values(status=x)\n",
        "Q = text('UPDATE deliveries SET status = :s WHERE id = :i')\n",
    ],
)
def test_the_guard_finds_a_state_written_elsewhere(source):
    header = (
        "from ci.store import models\nfrom ci.store.models import Delivery, Notification, Run\n"
        "from ci.store.models import Schedule as ScheduleRow\n"
        "from schemas.status import RunStatus\n"
        "S = RunStatus\n"
    )
    assert violations("ci/elsewhere.py", header + source)


def test_the_guard_lets_a_row_s_other_columns_and_answers_be():
    source = (
        "from ci.store.models import Notification\n"
        "def f(row: Notification, report):\n    row.status = report.status\n"
        "def g(state):\n    return jsonify({'status': state, 'message': 'ok'})\n"
        "def h():\n    return {'status': 'ok'}\n"
    )
    assert violations("ci/elsewhere.py", source) == []


@pytest.mark.parametrize("name", sorted(MODELS))
def test_the_guard_knows_where_each_model_keeps_its_state(name):
    model = getattr(models, name)
    assert MODELS[name][1] in model.__table__.columns
    assert TABLES[model.__tablename__] == name


@pytest.mark.parametrize(
    ("enum", "table"),
    [
        (DeliveryStatus, delivery_state.TRANSITIONS),
        (NotificationState, attempts.TRANSITIONS),
        (ScheduleState, state.TRANSITIONS),
    ],
)
def test_every_state_has_a_row_in_its_table(enum, table):
    assert set(table) == set(enum)
    assert all(targets <= set(enum) for targets in table.values())


def test_a_settled_delivery_does_not_move():
    delivery = Delivery(id=7, status=DeliveryStatus.PROCESSED, reason="")
    with pytest.raises(
        delivery_state.IllegalTransition, match="delivery 7: cannot go from processed"
    ):
        delivery_state.settle(delivery, DeliveryStatus.FAILED, "late")
    assert delivery.status == DeliveryStatus.PROCESSED


def test_a_delivery_is_not_stored_as_processed():
    with pytest.raises(delivery_state.IllegalTransition, match="cannot be stored as processed"):
        delivery_state.new(DeliveryStatus.PROCESSED, provider="github")


def test_pausing_leaves_an_ended_schedule_ended():
    row = Schedule(subscription_id=3, entry=0, state=ScheduleState.ENDED, reason="done")
    with pytest.raises(state.IllegalTransition, match="from ended to paused"):
        state.move(row, ScheduleState.PAUSED, "the subscription is paused")
    assert (row.state, row.reason) == (ScheduleState.ENDED, "done")


def test_a_sent_notification_is_settled():
    row = Notification(run_id=1, target="slack", status="running", state=NotificationState.SENT)
    assert not attempts.TRANSITIONS[NotificationState(row.state)]
