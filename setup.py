"""pyrunc: one distribution, import paths under ``pyrunc.``.

The repository's top-level folders are mapped onto subpackages with ``package_dir``;
every ``csrc/*_build.py`` is a cffi out-of-line API-mode builder compiled at install.
"""
import glob
import os

import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithCommit(build_py):
    """Record the git commit for ``pyrunc --version`` (dockerd shows it in ``docker info``)."""

    def run(self):
        super().run()
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True,
                                    check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            commit = "unknown"
        target = os.path.join(self.build_lib, "pyrunc", "runtime", "COMMIT")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(commit + "\n")

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = {"runtime": "runtime", "spec": "spec", "graphdriver": "graphdriver", "shim": "shim"}


def _packages():
    """Every folder with an ``__init__.py`` under the mapped tops becomes a package."""
    pkgs, dirs = ["pyrunc"], {"pyrunc": "pkg"}
    for name, folder in TOP.items():
        for root, _subdirs, files in os.walk(os.path.join(HERE, folder)):
            if "__init__.py" not in files:
                continue
            rel = os.path.relpath(root, HERE)
            dotted = "pyrunc." + name + rel[len(folder):].replace(os.sep, ".")
            pkgs.append(dotted)
            dirs[dotted] = rel
    return pkgs, dirs


packages, package_dir = _packages()

setup(
    name="pyrunc",
    version="0.1.0",
    description="A runc-compatible OCI container runtime in Python",
    packages=packages,
    package_dir=package_dir,
    python_requires=">=3.11",
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15"],
    cffi_modules=sorted(f"{p}:ffi" for p in glob.glob("csrc/*_build.py")),
    scripts=sorted(glob.glob("bin/*")),
    zip_safe=False,
    cmdclass={"build_py": BuildWithCommit},
)
