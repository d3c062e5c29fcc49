"""A real Confluent-compatible Schema Registry for tests: Apicurio Registry from Maven Central.

Apicurio speaks Confluent's REST API under ``/apis/ccompat/v7``. Its ready-to-run package
(``io.apicurio:apicurio-registry-app:<v>:zip:all``, 142 MB) is resolved once with Maven and
unpacked into the qloop cache; it starts in about 5 s with in-memory storage.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.local.broker import free_port
from streams.local.kafka_runtime import cache_dir

APICURIO = "2.6.13.Final"
ARTIFACT = f"io.apicurio:apicurio-registry-app:{APICURIO}:zip:all"


def _m2_zip() -> Path:
    return (
        Path.home()
        / ".m2"
        / "repository"
        / "io"
        / "apicurio"
        / "apicurio-registry-app"
        / APICURIO
        / f"apicurio-registry-app-{APICURIO}-all.zip"
    )


def apicurio_home() -> Path:
    """The unpacked registry (resolved and unpacked on first use)."""
    home = cache_dir().parent / f"apicurio-{APICURIO}"
    runner = home / f"apicurio-registry-app-{APICURIO}-runner.jar"
    if runner.exists():
        return home
    assert shutil.which("mvn"), "Maven resolves the registry from Maven Central"
    if not _m2_zip().exists():
        subprocess.run(
            ["mvn", "-q", "-B", "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"],
            check=True,
            timeout=900,
        )
    partial = home.with_suffix(".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(_m2_zip()) as archive:
        archive.extractall(partial)
    # The zip holds one top-level folder with the runner jar and lib/.
    (top,) = {p.parent for p in partial.rglob(runner.name)}
    shutil.rmtree(home, ignore_errors=True)
    top.rename(home)
    shutil.rmtree(partial, ignore_errors=True)
    return home


@contextmanager
def running_registry(log_dir: Path, timeout_s: float = 120) -> Iterator[str]:
    """Start Apicurio on a free loopback port; yield the Confluent-compatible base URL."""
    home = apicurio_home()
    port = free_port()
    log = (log_dir / "apicurio.log").open("wb")
    process = subprocess.Popen(
        [
            "java",
            f"-Dquarkus.http.port={port}",
            "-Dquarkus.http.host=127.0.0.1",
            "-jar",
            f"apicurio-registry-app-{APICURIO}-runner.jar",
        ],
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/apis/ccompat/v7"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            assert process.poll() is None, f"registry exited; see {log.name}"
            try:
                with urllib.request.urlopen(f"{url}/subjects", timeout=2) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"registry not up in {timeout_s} s; see {log.name}"
            time.sleep(0.25)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
