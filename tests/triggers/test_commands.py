"""Comment commands: typed arguments become params, and only trusted authors may command."""

from __future__ import annotations

import pytest

from schemas.errors import SpecError
from tests.triggers.recorded import comment, gitlab_event
from triggers.subscription import compile_subscription

RUN = {
    "args": {
        "lr": "float",
        "epochs": {"type": "int", "default": 3},
        "optimizer": {"type": "choice", "options": ["adam", "sgd"]},
        "fast": "bool",
        "note": "str",
    },
}
SPEC = {
    "on": {"comment": {"commands": {"run": RUN, "rerun": None, "cancel": None}, "names": "train"}}
}


def decide(event, spec=SPEC, name="train-on-comment"):
    return compile_subscription(5, name, spec).decide(event)


def check(decision, name):
    return next(c for c in decision.checks if c.name == name)


def test_a_run_command_yields_its_typed_arguments_with_defaults():
    decision = decide(comment("/axon run train lr=0.01 optimizer=sgd fast=yes"))
    assert decision.matched
    assert (decision.command, decision.params) == (
        "run",
        {"lr": 0.01, "optimizer": "sgd", "fast": True, "epochs": 3},
    )
    assert check(decision, "command").reason == (
        "/axon run train lr=0.01 optimizer='sgd' fast=True epochs=3"
    )


def test_the_command_may_follow_other_lines_and_quote_its_values():
    decision = decide(comment('Looks good.\n/axon run train note="two words" epochs=5'))
    assert decision.params == {"note": "two words", "epochs": 5}


def test_a_quoted_command_in_a_reply_is_not_a_command():
    assert decide(comment("> /axon run train")).reason == "the comment holds no /axon command"


def test_an_ordinary_comment_starts_nothing():
    decision = decide(comment("Thanks, merging after CI."))
    assert not decision.matched and decision.command == "" and decision.params == {}
    assert decision.reason == "the comment holds no /axon command"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("/axon run train lr=fast", "/axon run train: lr: 'fast' is not a float"),
        ("/axon run train epochs=2.5", "/axon run train: epochs: '2.5' is not an int"),
        ("/axon run train lr=nan", "/axon run train: lr: 'nan' is not a finite number"),
        (
            "/axon run train optimizer=adamw",
            "/axon run train: optimizer: 'adamw' is not one of ['adam', 'sgd']",
        ),
        (
            "/axon run train lrr=0.1",
            "/axon run train: unknown argument 'lrr'; did you mean 'lr'? "
            "known: epochs, fast, lr, note, optimizer",
        ),
        ("/axon run train lr=1 lr=2", "/axon run train: argument 'lr' is given twice"),
        ("/axon run train now", "/axon run train: 'now' is not a name=value argument"),
        ("/axon run lr=0.1", "/axon run needs the name of what to run: one of ['train']"),
        ("/axon run evaluate", "/axon run 'evaluate' is for another subscription: ['train']"),
        ("/axon deploy", "/axon 'deploy' is not one of run, rerun, cancel"),
        ("/axon", "/axon names no command; this one answers run, rerun, cancel"),
        (
            '/axon run train note="open',
            "cannot read the command '/axon run train note=\"open': No closing quotation",
        ),
    ],
)
def test_a_bad_command_is_refused_with_the_reason(body, reason):
    decision = decide(comment(body))
    assert not decision.matched
    assert decision.reason == reason


def test_a_required_argument_must_be_given():
    spec = {
        "on": {
            "comment": {"commands": {"run": {"args": {"lr": {"type": "float", "required": True}}}}}
        }
    }
    decision = decide(comment("/axon run train-on-comment"), spec)
    assert decision.reason == "/axon run train-on-comment: argument 'lr' is required"


def test_run_answers_to_the_subscription_and_operation_names_by_default():
    spec = {
        "on": {"comment": {"commands": ["run"]}},
        "operation": {"name": "resnet"},
    }
    assert decide(comment("/axon run resnet"), spec, name="nightly").matched
    assert decide(comment("/axon run nightly"), spec, name="nightly").matched


def test_rerun_and_cancel_take_an_optional_name():
    rerun = decide(comment("/axon rerun"))
    assert (rerun.matched, rerun.command, rerun.params) == (True, "rerun", {})
    cancel = decide(comment("/axon cancel train"))
    assert (cancel.matched, cancel.command) == (True, "cancel")
    assert decide(comment("/axon cancel train now")).reason == (
        "/axon cancel takes no arguments, not 'now'"
    )


def test_a_command_the_subscription_does_not_list_is_refused():
    spec = {"on": {"comment": {"commands": {"rerun": None}}}}
    assert decide(comment("/axon cancel"), spec).reason == "/axon 'cancel' is not one of rerun"


def test_only_owners_members_and_collaborators_may_command_by_default():
    decision = decide(comment("/axon rerun", association="CONTRIBUTOR"))
    assert decision.reason == (
        "the author 'chhsia0' is CONTRIBUTOR, not one of ['OWNER', 'MEMBER', 'COLLABORATOR']"
    )
    assert decide(comment("/axon rerun", association="COLLABORATOR")).matched


def test_the_trusted_associations_can_be_configured():
    spec = {"on": {"comment": {"commands": ["rerun"], "associations": ["OWNER"]}}}
    assert not decide(comment("/axon rerun", association="MEMBER"), spec).matched


def test_a_gitlab_comment_needs_its_author_listed_in_actors():
    event = gitlab_event("note_merge_request", comment="/axon rerun")
    refused = decide(event)
    assert refused.reason == (
        "the gitlab comment does not say what role 'root' has, and actors does not list them"
    )
    spec = {"on": {"comment": {"commands": ["rerun"], "actors": ["root"]}}}
    allowed = decide(event, spec)
    assert allowed.matched
    assert check(allowed, "author").reason == "the author 'root' is listed in actors"


def test_an_untrusted_author_gets_no_params_even_with_a_valid_command():
    decision = decide(comment("/axon run train lr=0.1", association="NONE"))
    assert not decision.matched and decision.params == {} and decision.command == ""


def test_another_prefix_can_be_configured():
    spec = {"on": {"comment": {"commands": ["rerun"], "prefix": "/ml"}}}
    assert decide(comment("/ml rerun"), spec).matched
    assert decide(comment("/axon rerun"), spec).reason == "the comment holds no /ml command"


@pytest.mark.parametrize(
    ("comment_spec", "path", "reason"),
    [
        ({}, "on.comment.commands", "required: a mapping with some of run, rerun, cancel"),
        (
            {"commands": {"retry": None}},
            "on.comment.commands.retry",
            "unknown command; did you mean",
        ),
        (
            {"commands": {"run": {"args": {"lr": "double"}}}},
            "on.comment.commands.run.args.lr.type",
            "expected one of",
        ),
        (
            {"commands": {"run": {"args": {"lr": {"type": "float", "default": "high"}}}}},
            "on.comment.commands.run.args.lr.default",
            "lr: 'high' is not a float",
        ),
        (
            {"commands": {"run": {"args": {"opt": "choice"}}}},
            "on.comment.commands.run.args.opt.options",
            "a choice needs",
        ),
        (
            {"commands": {"run": {"args": {"2x": "int"}}}},
            "on.comment.commands.run.args.2x",
            "an argument's name",
        ),
        (
            {"commands": {"cancel": {"args": {"x": "int"}}}},
            "on.comment.commands.cancel.args",
            "cancel takes no arguments",
        ),
        (
            {"commands": ["run"], "names": ["a b"]},
            "on.comment.names[0]",
            "'a b': one word",
        ),
        (
            {"commands": ["rerun"], "associations": ["ADMIN"]},
            "on.comment.associations[0]",
            "unknown association",
        ),
        ({"commands": ["rerun"], "prefix": "run now"}, "on.comment.prefix", "expected one word"),
    ],
)
def test_a_bad_comment_filter_names_its_place(comment_spec, path, reason):
    with pytest.raises(SpecError) as error:
        compile_subscription(1, "s", {"on": {"comment": comment_spec}})
    assert error.value.path == path
    assert error.value.reason.startswith(reason)
