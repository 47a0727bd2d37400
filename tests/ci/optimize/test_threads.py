"""A suggestion runs with one BLAS thread whatever the process was started with, and puts the
thread count back afterwards."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import ci.optimize
from ci.optimize import suggest, threads


def counts() -> list[int]:
    return [blas.get() for blas in threads.libraries()]  # type: ignore[misc]


@pytest.fixture
def two_threads() -> Iterator[None]:
    """Every OpenBLAS of the process set to two threads, as an unset OPENBLAS_NUM_THREADS
    leaves it on a two-core machine."""
    found = threads.libraries()
    assert found, "NumPy's and SciPy's wheels ship OpenBLAS: it should be found"
    before = [put(blas, 2) for blas in found]
    yield
    for blas, count in zip(found, before, strict=True):
        put(blas, count)


def put(blas: threads.Blas, count: int) -> int:
    """Set a library's thread count (for this thread where it can), giving the one before."""
    if blas.local is not None:
        return blas.local(count)
    assert blas.get is not None and blas.set is not None
    before = blas.get()
    blas.set(count)
    return before


def test_numpys_and_scipys_openblas_are_found():
    names = [b.path.rsplit("/", 1)[-1] for b in threads.libraries()]
    assert any(name.startswith("libscipy_openblas64_") for name in names)  # NumPy's
    assert any(name.startswith("libscipy_openblas-") for name in names)  # SciPy's


def test_the_limit_holds_inside_and_the_count_is_restored_after(two_threads):
    assert set(counts()) == {2}
    with threads.one_blas_thread():
        assert set(counts()) == {1}
    assert set(counts()) == {2}


def test_the_count_is_restored_when_the_body_raises(two_threads):
    with pytest.raises(RuntimeError), threads.one_blas_thread():
        raise RuntimeError("a suggestion failed")
    assert set(counts()) == {2}


def test_suggest_runs_the_search_with_one_thread(two_threads, monkeypatch):
    seen: list[list[int]] = []

    def grid(matrix, history, n, seed):
        seen.append(counts())
        return [{"a": 1}]

    monkeypatch.setitem(ci.optimize._KINDS, "grid", grid)
    assert suggest({"kind": "grid", "params": {"a": {"kind": "choice", "value": [1]}}}, [], 1, 0)
    assert seen == [[1] * len(threads.libraries())]
    assert set(counts()) == {2}
