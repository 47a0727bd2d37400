"""Comment commands on pull requests: `/axon run train lr=0.01`, `/axon sweep train numRuns=8`,
`/axon rerun`, `/axon cancel`, `/axon approve`.

`on.comment`: `commands` (required) lists what the subscription answers: `run` with typed
`args` (see triggers.arguments), `rerun`, `cancel` and `approve` (let the pull request's runs
that wait for approval, `isApproved: false`, go) and `sweep` (a search: `run` for an operation with
a matrix, whose budget `numRuns=N` may set; see ci.runs.sweeps). `names` are the words a command
may name the subscription by (default its own name and its operation's): `/axon run <name>` and
`/axon sweep <name>` must give one, the others may (without one they are for every subscription
that answers them). Only a trusted author's command counts: an `associations` list (default
OWNER, MEMBER, COLLABORATOR, as GitHub reports them) or an `actors` list of logins, which is
the only way to trust a GitLab comment (GitLab does not say what role its author has).
`prefix` defaults to `/axon`. The command is the first line of the comment starting with the
prefix; a quoted line (`> /axon run`) is not one. Values may be quoted as in a shell:
`note="two words"`. A trusted author's command runs the pull request's code, a fork's
included: the command is their word for it, which is why the author is checked and the fork
policy is not.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from schemas.errors import SpecError
from schemas.event import Event
from triggers.arguments import Argument, arguments
from triggers.base import Errors, Matcher, Verdict
from triggers.sections import Section, hint, names

VERBS = ("run", "rerun", "cancel", "approve", "sweep")
# The verbs that start a run, with typed arguments.
STARTS = ("run", "sweep")
# `/axon sweep train numRuns=8`: the search's budget, given besides the declared arguments.
NUM_RUNS = "numRuns"
ASSOCIATIONS = frozenset(
    {
        "OWNER",
        "MEMBER",
        "COLLABORATOR",
        "CONTRIBUTOR",
        "FIRST_TIME_CONTRIBUTOR",
        "FIRST_TIMER",
        "MANNEQUIN",
        "NONE",
    }
)
TRUSTED = ("OWNER", "MEMBER", "COLLABORATOR")


@dataclass(frozen=True)
class Command:
    """One verb a subscription answers, and its arguments."""

    verb: str
    args: dict[str, Argument] = field(default_factory=dict)

    def read(self, words: list[str], prefix: str, names: tuple[str, ...]) -> Verdict:
        said = f"{prefix} {self.verb}"
        name = words[0] if words and "=" not in words[0] else ""
        rest = words[1:] if name else words
        if name and name not in names:
            return Verdict(False, f"{said} {name!r} is for another subscription: {list(names)}")
        if self.verb not in STARTS:
            if rest:
                return Verdict(False, f"{said} takes no arguments, not {rest[0]!r}")
            return Verdict(True, f"{said} {name or '(all)'}".rstrip(), command=self.verb)
        if not name:
            return Verdict(False, f"{said} needs the name of what to run: one of {list(names)}")
        try:
            budget, rest = _num_runs(rest) if self.verb == "sweep" else ({}, rest)
            params = {**self.params(rest), **budget}
        except ValueError as exc:
            return Verdict(False, f"{said} {name}: {exc}")
        given = " ".join(f"{key}={value!r}" for key, value in params.items())
        return Verdict(True, f"{said} {name} {given}".rstrip(), command=self.verb, params=params)

    def params(self, words: list[str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for word in words:
            key, equals, text = word.partition("=")
            if not equals:
                raise ValueError(f"{word!r} is not a name=value argument")
            argument = self.args.get(key)
            if argument is None:
                known = hint(key, sorted(self.args)) if self.args else "it takes none"
                raise ValueError(f"unknown argument {key!r}; {known}")
            if key in values:
                raise ValueError(f"argument {key!r} is given twice")
            values[key] = argument.parse(text)
        for key, argument in self.args.items():
            if key not in values and argument.has_default:
                values[key] = argument.default
            elif key not in values and argument.required:
                raise ValueError(f"argument {key!r} is required")
        return values


class AuthorMatcher(Matcher):
    """Who may command: a trusted association or a listed login."""

    name = "author"

    def __init__(self, associations: tuple[str, ...], actors: tuple[str, ...]) -> None:
        self.associations, self.actors = associations, actors

    @classmethod
    def from_spec(cls, value: Any, path: str) -> AuthorMatcher:
        given = value.get("associations")
        listed = TRUSTED if given is None else names(given, f"{path}.associations", "association")
        for index, association in enumerate(listed):
            if association not in ASSOCIATIONS:
                known = hint(association, sorted(ASSOCIATIONS))
                raise SpecError(f"{path}.associations[{index}]", f"unknown association; {known}")
        actors = value.get("actors")
        logins = () if actors is None else names(actors, f"{path}.actors", "login")
        return cls(tuple(listed), logins)

    def check(self, event: Event) -> Verdict:
        author = event.actor
        if author and author in self.actors:
            return Verdict(True, f"the author {author!r} is listed in actors")
        association = event.author_association.upper()
        if association in self.associations:
            return Verdict(True, f"the author {author!r} is {association}")
        if not association:
            reason = f"the {event.provider} comment does not say what role {author!r} has"
            return Verdict(False, f"{reason}, and actors does not list them")
        wanted = list(self.associations)
        return Verdict(False, f"the author {author!r} is {association}, not one of {wanted}")


class CommandMatcher(Matcher):
    """The comment holds a command this subscription answers, with valid arguments."""

    name = "command"

    def __init__(self, prefix: str, names: tuple[str, ...], commands: dict[str, Command]) -> None:
        self.prefix, self.names, self.commands = prefix, names, commands

    @classmethod
    def from_spec(cls, value: Any, path: str) -> CommandMatcher:
        return _command_matcher(value, path, ())

    def check(self, event: Event) -> Verdict:
        line = command_line(event.comment, self.prefix)
        if line is None:
            return Verdict(False, f"the comment holds no {self.prefix} command")
        try:
            words = shlex.split(line)
        except ValueError as exc:
            return Verdict(False, f"cannot read the command {_short(line)}: {exc}")
        answered = ", ".join(self.commands)
        if len(words) < 2:
            return Verdict(False, f"{self.prefix} names no command; this one answers {answered}")
        command = self.commands.get(words[1].lower())
        if command is None:
            return Verdict(False, f"{self.prefix} {words[1]!r} is not one of {answered}")
        return command.read(words[2:], self.prefix, self.names)


def _num_runs(words: list[str]) -> tuple[dict[str, int], list[str]]:
    """`numRuns=N` taken out of a sweep's words, as a positive int; the other words."""
    given = [word for word in words if word.partition("=")[0] == NUM_RUNS]
    if not given:
        return {}, words
    if len(given) > 1:
        raise ValueError(f"argument {NUM_RUNS!r} is given twice")
    text = given[0].partition("=")[2]
    if not (text.isascii() and text.isdigit()) or int(text) < 1 or len(text) > 9:
        raise ValueError(f"{NUM_RUNS}: {text[:20]!r} is not a whole number of runs, 1 or more")
    return {NUM_RUNS: int(text)}, [word for word in words if word not in given]


def command_line(comment: str, prefix: str) -> str | None:
    """The first line that starts with `prefix` as a word, or None."""
    for line in comment.splitlines():
        stripped = line.strip()
        if stripped == prefix or stripped.startswith(prefix + " "):
            return stripped
    return None


def _short(text: str) -> str:
    # Comment text is untrusted and can be long; the reason only needs to point at it.
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _command_matcher(value: Any, path: str, default_names: tuple[str, ...]) -> CommandMatcher:
    prefix = value.get("prefix", "/axon")
    if not isinstance(prefix, str) or not prefix.strip() or " " in prefix.strip():
        raise SpecError(f"{path}.prefix", "expected one word, such as /axon")
    errors = Errors()
    commands = value.get("commands")
    if not commands:
        raise SpecError(f"{path}.commands", f"required: a mapping with some of {', '.join(VERBS)}")
    built = {}
    for verb, spec in commands.items():
        found = errors.attempt(partial(_command, verb, spec, f"{path}.commands.{verb}"))
        if found is not None:
            built[found.verb] = found
    listed = errors.attempt(partial(_names, value.get("names"), f"{path}.names", default_names))
    errors.raise_any()
    return CommandMatcher(prefix.strip(), listed or (), built)


def _names(value: Any, path: str, default: tuple[str, ...]) -> tuple[str, ...]:
    listed = default if value is None else names(value, path, "name")
    for index, name in enumerate(listed):
        if any(ch.isspace() or ch == "=" for ch in name):
            where = path if isinstance(value, str) else f"{path}[{index}]"
            raise SpecError(where, f"{name!r}: one word without '='")
    if not listed:
        raise SpecError(path, "required: the names commands call this subscription by")
    return listed


def _command(verb: str, spec: dict[str, Any], path: str) -> Command:
    # triggers.command_models checked the verb and that only run and sweep have args.
    args = arguments(spec.get("args"), f"{path}.args")
    if verb == "sweep" and NUM_RUNS in args:
        reason = "sweep reads numRuns itself: the search's budget"
        raise SpecError(f"{path}.args.{NUM_RUNS}", reason)
    return Command(verb, args)


def comment_section(
    spec: dict[str, Any], path: str, errors: Errors, commands_for: tuple[str, ...]
) -> Section:
    matchers = [
        errors.attempt(lambda: AuthorMatcher.from_spec(spec, path)),
        errors.attempt(lambda: _command_matcher(spec, path, commands_for)),
    ]
    kept = tuple(m for m in matchers if m is not None)
    return Section("comment", frozenset({"comment"}), kept, None)
