"""The real test bed (../shared/tools/kube-real): whether it answers, and `make test-kube-real`.

`python -m tests.kube_real.bed [pytest arguments]` brings the bed up when it is built and not up,
runs pytest with the bed's kubeconfig, and takes the bed down again only if it brought it up, so
the bed is left as it was found.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kubernetes import client, config

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("KUBE_REAL_TOOLS", ROOT.parent / "shared" / "tools" / "kube-real"))
HOME = Path(os.environ.get("KUBE_REAL_HOME", "/tmp/kube-real"))
KUBECONFIG = os.environ.get("KUBECONFIG") or str(HOME / "kubeconfig")
# Another test may restart the shared apiserver; it says so by creating this file meanwhile.
RESTARTING = Path("/tmp/kube-real-restarting")
# The namespaces tests use: `axon-test` (the bed's own), one per group of tests.
NAMESPACES = "axon-test axon-a axon-b"


def server_version(kubeconfig: str = KUBECONFIG) -> str | None:
    """The bed's `gitVersion` (e.g. v1.20.2), or None when nothing answers at `kubeconfig`."""
    if not Path(kubeconfig).is_file():
        return None
    try:
        with config.new_client_from_config(config_file=kubeconfig) as api:
            info = client.VersionApi(api).get_code(_request_timeout=5)
    except Exception:  # noqa: BLE001 - any failure means the same: no bed to test against
        return None
    return str(info.git_version)


def built() -> bool:
    return all(
        (HOME / "bin" / name).is_file() for name in ("kube-apiserver", "kube-controller-manager")
    )


def main(argv: list[str]) -> int:
    started = False
    if server_version() is None:
        if not built():
            print(f"kube-real: not built; run {TOOLS}/build.sh first", file=sys.stderr)
            return 2
        env = {**os.environ, "KUBE_REAL_NAMESPACES": NAMESPACES, "KUBE_REAL_STANDIN_NAMESPACE": ""}
        subprocess.run([str(TOOLS / "up.sh")], check=True, env=env)
        started = True
    try:
        env = {**os.environ, "KUBECONFIG": KUBECONFIG}
        pytest = [sys.executable, "-m", "pytest", "-m", "kube_real", *argv]
        return subprocess.run(pytest, cwd=ROOT, env=env, check=False).returncode
    finally:
        if started:
            subprocess.run([str(TOOLS / "down.sh")], check=False)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["tests/kube_real"]))
