"""One BLAS thread while a suggestion is computed, whatever the environment says.

The GP's matrices are a few hundred rows at most: OpenBLAS's thread pool gains nothing there and,
on a machine whose cores are busy with other work (a worker's usual state), its spinning threads
made one suggestion take 4 to 16 s of wall time for 150 ms of single-threaded work. Setting
OPENBLAS_NUM_THREADS before NumPy is imported fixes that only for processes started that way, so
the limit is set around each suggestion instead, in the calling thread only where OpenBLAS allows
it (`openblas_set_num_threads_local`, OpenBLAS 0.3.27+), which leaves other threads of a worker
alone; else process-wide, restored afterwards.

The OpenBLAS copies are found among the libraries loaded into the process (NumPy and SciPy each
ship their own, with prefixed symbol names). Where none is found (another BLAS, another OS) this
is a no-op.
"""

from __future__ import annotations

import ctypes
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

MAPS = "/proc/self/maps"
# The exported names of OpenBLAS's thread count setter and getter, unprefixed and as the
# scipy-openblas wheels export them (32- and 64-bit integer builds).
PREFIXES = ("openblas", "scipy_openblas")
SUFFIXES = ("", "64_", "_64_")
_GLOBAL = threading.Lock()


@dataclass(frozen=True)
class Blas:
    path: str
    local: Callable[[int], int] | None
    get: Callable[[], int] | None
    set: Callable[[int], None] | None


def _symbol(library: ctypes.CDLL, names: list[str]) -> object | None:
    for name in names:
        found = getattr(library, name, None)
        if found is not None:
            return found
    return None


def _open(path: str) -> Blas | None:
    try:
        library = ctypes.CDLL(path)  # already loaded: this only hands back its handle
    except OSError:
        return None
    local = _symbol(library, ["openblas_set_num_threads_local"])
    get = _symbol(library, [f"{p}_get_num_threads{s}" for p in PREFIXES for s in SUFFIXES])
    put = _symbol(library, [f"{p}_set_num_threads{s}" for p in PREFIXES for s in SUFFIXES])
    if local is None and (get is None or put is None):
        return None
    for function, result in ((local, ctypes.c_int), (get, ctypes.c_int), (put, None)):
        if function is not None:
            function.restype = result  # type: ignore[attr-defined]
    return Blas(path, local, get, put)  # type: ignore[arg-type]


def loaded_paths() -> list[str]:
    """The OpenBLAS libraries mapped into this process, in the order first mapped."""
    try:
        with open(MAPS, encoding="utf-8") as maps:
            lines = maps.read().splitlines()
    except OSError:
        return []
    paths: list[str] = []
    for line in lines:
        fields = line.split(maxsplit=5)
        path = fields[5] if len(fields) == 6 else ""
        name = path.rsplit("/", 1)[-1].lower()
        if "openblas" in name and ".so" in name and path not in paths:
            paths.append(path)
    return paths


@functools.lru_cache(maxsize=1)
def libraries() -> tuple[Blas, ...]:
    # NumPy and SciPy are imported with ci.optimize, so their BLAS is mapped by the first call.
    import numpy  # noqa: F401
    import scipy.linalg  # noqa: F401

    found = (_open(path) for path in loaded_paths())
    return tuple(blas for blas in found if blas is not None)


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with one BLAS thread, then put back the counts found."""
    found = libraries()
    local = [b for b in found if b.local is not None]
    shared = [b for b in found if b.local is None]
    before_local = [b.local(1) for b in local]  # type: ignore[misc]
    # A process-wide count is one setting for all threads: suggestions then take turns, so that
    # one does not put back the count while another still runs.
    with _GLOBAL if shared else _nothing():
        before_shared = [b.get() for b in shared]  # type: ignore[misc]
        for blas in shared:
            blas.set(1)  # type: ignore[misc]
        try:
            yield
        finally:
            for blas, count in zip(shared, before_shared, strict=True):
                blas.set(count)  # type: ignore[misc]
            for blas, count in zip(local, before_local, strict=True):
                blas.local(count)  # type: ignore[misc]


@contextmanager
def _nothing() -> Iterator[None]:
    yield
