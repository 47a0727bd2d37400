"""Loading spec documents: safe, bounded and located."""

from __future__ import annotations

import time

import pytest

from schemas.errors import SpecError
from schemas.spec_source import format_path, load_source

DOCUMENT = """\
version: 1.1
kind: component
inputs:
  - name: lr
    type: float
run:
  kind: job
"""


def billion_laughs(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for level in range(1, levels):
        name = f"l{level}"
        lines.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 9)}]")
        previous = name
    return "\n".join(lines) + "\n"


def test_every_value_keeps_its_source_line():
    data, source = load_source(DOCUMENT)

    assert data["inputs"][0]["type"] == "float"
    assert source.line(("kind",)) == 2
    assert source.line(("inputs", 0)) == 4
    assert source.line(("inputs", 0, "type")) == 5
    assert source.line(("run", "kind")) == 7


def test_a_missing_path_takes_the_line_of_its_closest_ancestor():
    _, source = load_source(DOCUMENT)

    assert source.line(("run", "container", "image")) == 6
    assert source.line(("nowhere",)) == 1


def test_json_is_accepted_as_yaml():
    data, source = load_source('{"version": 1.1,\n "kind": "operation"}')

    assert data == {"version": 1.1, "kind": "operation"}
    assert source.line(("kind",)) == 2


def test_json_indented_with_tabs_is_accepted():
    data, _ = load_source('{\n\t"kind":\t"operation"\n}')

    assert data == {"kind": "operation"}


def test_bytes_are_read_as_utf8():
    data, _ = load_source("name: café\n".encode())

    assert data == {"name": "café"}


def test_a_syntax_error_names_its_line():
    with pytest.raises(SpecError) as caught:
        load_source("version: 1.1\nkind: operation\nparams: [1, 2\n")

    assert caught.value.reason.startswith("invalid YAML")
    assert caught.value.line == 4


def test_a_billion_laughs_document_is_refused_quickly():
    started = time.monotonic()
    with pytest.raises(SpecError) as caught:
        load_source(billion_laughs())

    assert time.monotonic() - started < 1
    assert "too many aliases" in caught.value.reason
    assert caught.value.line is not None


def test_more_than_the_alias_limit_is_refused_at_the_alias():
    document = "base: &b 1\nitems:\n" + "  - *b\n" * 101

    with pytest.raises(SpecError) as caught:
        load_source(document)

    assert caught.value.reason == "too many aliases (more than 100)"
    assert caught.value.line == 103


def test_a_self_referencing_alias_is_refused():
    with pytest.raises(SpecError, match="refers to itself"):
        load_source("a: &a [1, *a]\n")


def test_a_few_aliases_and_merge_keys_load_normally():
    data, _ = load_source("base: &env {image: python}\njob:\n  <<: *env\n  name: train\n")

    assert data["job"] == {"image": "python", "name": "train"}


def test_a_document_over_the_size_limit_is_refused():
    with pytest.raises(SpecError, match="the limit is 100"):
        load_source("a: " + "x" * 200, max_bytes=100)


def test_the_default_size_limit_is_one_megabyte():
    with pytest.raises(SpecError, match="the limit is 1000000"):
        load_source("a: " + "x" * 1_000_001)


def test_python_object_tags_are_refused():
    with pytest.raises(SpecError, match="could not determine a constructor") as caught:
        load_source("run: !!python/object/apply:os.system [echo hacked]\n")

    assert caught.value.line == 1


def test_more_than_one_document_is_refused():
    with pytest.raises(SpecError, match="single document"):
        load_source("a: 1\n---\nb: 2\n")


def test_invalid_utf8_is_refused():
    with pytest.raises(SpecError, match="not valid UTF-8"):
        load_source(b"name: \xff\xfe\n")


def test_an_unquoted_range_reads_as_a_base_60_integer_as_in_polyaxon():
    data, _ = load_source("range: 1:10:2\n")

    assert data["range"] == 1 * 3600 + 10 * 60 + 2


def test_a_quoted_range_stays_a_string():
    data, _ = load_source('range: "1:10:2"\n')

    assert data["range"] == "1:10:2"


def test_paths_are_dotted_with_bracketed_indices():
    assert format_path(("component", "inputs", 0, "name")) == "component.inputs[0].name"
    assert format_path(()) == ""


def test_every_value_keeps_its_column():
    _, source = load_source(DOCUMENT)

    assert source.position(("inputs", 0)) == (4, 5)
    assert source.position(("inputs", 0, "type")) == (5, 5)
    assert source.position(("run", "kind")) == (7, 3)


def test_a_syntax_error_names_its_column():
    with pytest.raises(SpecError) as caught:
        load_source("version: 1.1\nparams: {lr: [1, 2}\n")

    assert (caught.value.line, caught.value.column) == (2, 19)


def test_json_indented_with_tabs_keeps_lines_and_columns():
    _, source = load_source('{\n\t"kind":\t"operation",\n\t"run": {"kind": "job"}\n}')

    assert source.position(("run", "kind")) == (3, 10)


def test_invalid_utf8_is_placed_at_its_byte():
    with pytest.raises(SpecError) as caught:
        load_source(b"a: 1\nname: \xff\n")

    assert (caught.value.line, caught.value.column) == (2, 7)


def test_an_error_message_names_line_and_column():
    assert str(SpecError("run.kind", "field required", 3, 5)) == (
        "run.kind: field required (line 3, column 5)"
    )
    assert SpecError("run", "x", 3, 5).as_dict() == {
        "path": "run",
        "reason": "x",
        "line": 3,
        "column": 5,
    }
    assert SpecError("run", "x", 3).as_dict() == {"path": "run", "reason": "x", "line": 3}
