"""The Kafka runtime the local broker runs: official jars from Maven Central, and Java 17+.

Resolved once into a cache (``$QLOOP_CACHE_DIR`` or ``~/.cache/qloop``) by Maven from the
packaged ``pom.xml``; nothing is downloaded from anywhere else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

KAFKA_VERSION = "4.1.1"


class BrokerError(Exception):
    """A broker operation failed for a reason the user can fix; the message says how."""


def cache_dir() -> Path:
    """Where resolved jars live: ``$QLOOP_CACHE_DIR`` or ``~/.cache/qloop``."""
    base = os.environ.get("QLOOP_CACHE_DIR") or os.path.join(Path.home(), ".cache", "qloop")
    return Path(base) / f"kafka-{KAFKA_VERSION}"


def check_java() -> str:
    """Return the java executable, or raise if it is missing or older than 17."""
    java = shutil.which("java", path=_java_path())
    if java is None:
        raise BrokerError("java not found: install a Java 17+ runtime (e.g. openjdk-17-jre).")
    out = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [java, "-version"], capture_output=True, text=True, check=False
    ).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise BrokerError(f"could not read the Java version from: {out.strip()[:200]}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < 17:
        raise BrokerError(f"Java {major} found at {java}; Kafka {KAFKA_VERSION} needs Java 17+.")
    return java


def _java_path() -> str:
    home = os.environ.get("JAVA_HOME")
    path = os.environ.get("PATH", "")
    return f"{home}/bin{os.pathsep}{path}" if home else path


def fetch_jars(*, quiet: bool = True) -> Path:
    """Resolve the Kafka runtime with Maven into the cache (once); return the libs folder."""
    libs = cache_dir() / "libs"
    marker = cache_dir() / ".complete"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("mvn not found: install Apache Maven (it resolves the Kafka jars).")
    cache_dir().mkdir(parents=True, exist_ok=True)
    pom = cache_dir() / "pom.xml"
    pom.write_text(resources.files("streams").joinpath("local/pom.xml").read_text("utf-8"))
    cmd = [mvn, "-B", "-f", str(pom), "dependency:copy-dependencies"]
    cmd += [f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
        raise BrokerError("Maven could not resolve the Kafka jars:\n" + "\n".join(tail))
    marker.write_text(KAFKA_VERSION)
    return libs


__all__ = ["KAFKA_VERSION", "BrokerError", "cache_dir", "check_java", "fetch_jars"]
