"""The test functions the search benchmark minimizes, in two sets kept apart.

- BENCHMARK (Branin, Hartmann-6): the figures the README reports. No setting of the searches
  is chosen by looking at them.
- TUNING (Rosenbrock, Ackley, Levy, six-hump camel, Hartmann-3, Styblinski-Tang): where the
  searches' settings are chosen, so that the reported figures measure the method on objectives
  it was not fitted to.

Each is (bounds, objective, known minimum); the formulas and minima are the usual ones (Surjanovic
and Bingham's library of test functions).
"""

from __future__ import annotations

import math
from collections.abc import Callable

Params = dict[str, float]
Objective = Callable[[Params], float]
Bounds = dict[str, tuple[float, float]]
Problem = tuple[Bounds, Objective, float]

HARTMANN_ALPHA = (1.0, 1.2, 3.0, 3.2)
HARTMANN6_A = (
    (10, 3, 17, 3.5, 1.7, 8),
    (0.05, 10, 17, 0.1, 8, 14),
    (3, 3.5, 1.7, 10, 17, 8),
    (17, 8, 0.05, 10, 0.1, 14),
)
HARTMANN6_P = (
    (1312, 1696, 5569, 124, 8283, 5886),
    (2329, 4135, 8307, 3736, 1004, 9991),
    (2348, 1451, 3522, 2883, 3047, 6650),
    (4047, 8828, 8732, 5743, 1091, 381),
)
HARTMANN3_A = ((3.0, 10, 30), (0.1, 10, 35), (3.0, 10, 30), (0.1, 10, 35))
HARTMANN3_P = ((3689, 1170, 2673), (4699, 4387, 7470), (1091, 8732, 5547), (381, 5743, 8828))


def _x(p: Params, d: int) -> list[float]:
    return [p[f"x{i}"] for i in range(d)]


def _cube(d: int, low: float, high: float) -> Bounds:
    return {f"x{i}": (low, high) for i in range(d)}


def branin(p: Params) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


def _hartmann(x: list[float], a: tuple, p: tuple) -> float:
    total = 0.0
    for alpha, row, q in zip(HARTMANN_ALPHA, a, p, strict=True):
        inner = sum(row[j] * (x[j] - q[j] * 1e-4) ** 2 for j in range(len(x)))
        total += alpha * math.exp(-inner)
    return -total


def hartmann6(p: Params) -> float:
    return _hartmann(_x(p, 6), HARTMANN6_A, HARTMANN6_P)


def hartmann3(p: Params) -> float:
    return _hartmann(_x(p, 3), HARTMANN3_A, HARTMANN3_P)


def rosenbrock(p: Params) -> float:
    x = _x(p, 4)
    return sum(100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2 for i in range(len(x) - 1))


def ackley(p: Params) -> float:
    x = _x(p, 5)
    d = len(x)
    squares = math.sqrt(sum(v * v for v in x) / d)
    cosines = sum(math.cos(2 * math.pi * v) for v in x) / d
    return -20 * math.exp(-0.2 * squares) - math.exp(cosines) + 20 + math.e


def levy(p: Params) -> float:
    w = [1 + (v - 1) / 4 for v in _x(p, 4)]
    total = math.sin(math.pi * w[0]) ** 2
    for wi in w[:-1]:
        total += (wi - 1) ** 2 * (1 + 10 * math.sin(math.pi * wi + 1) ** 2)
    return total + (w[-1] - 1) ** 2 * (1 + math.sin(2 * math.pi * w[-1]) ** 2)


def six_hump_camel(p: Params) -> float:
    x1, x2 = p["x1"], p["x2"]
    return (4 - 2.1 * x1**2 + x1**4 / 3) * x1**2 + x1 * x2 + (-4 + 4 * x2**2) * x2**2


def styblinski_tang(p: Params) -> float:
    return sum(v**4 - 16 * v**2 + 5 * v for v in _x(p, 3)) / 2


BENCHMARK: dict[str, Problem] = {
    "branin": ({"x1": (-5.0, 10.0), "x2": (0.0, 15.0)}, branin, 0.397887),
    "hartmann6": (_cube(6, 0.0, 1.0), hartmann6, -3.32237),
}
TUNING: dict[str, Problem] = {
    "rosenbrock4": (_cube(4, -2.048, 2.048), rosenbrock, 0.0),
    "ackley5": (_cube(5, -32.768, 32.768), ackley, 0.0),
    "levy4": (_cube(4, -10.0, 10.0), levy, 0.0),
    "camel": ({"x1": (-3.0, 3.0), "x2": (-2.0, 2.0)}, six_hump_camel, -1.0316284),
    "hartmann3": (_cube(3, 0.0, 1.0), hartmann3, -3.86278),
    "styblinski3": (_cube(3, -5.0, 5.0), styblinski_tang, -39.16617 * 3),
}
