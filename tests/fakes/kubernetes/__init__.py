"""A Kubernetes API server double on loopback, with a simulated cluster behind it.

The official client talks to it unchanged; tests script how pods behave with `PodScript`.
"""

from tests.fakes.kubernetes.clock import SimClock
from tests.fakes.kubernetes.double import KubernetesDouble
from tests.fakes.kubernetes.scripts import PodScript, Timing

__all__ = ["KubernetesDouble", "PodScript", "SimClock", "Timing"]
