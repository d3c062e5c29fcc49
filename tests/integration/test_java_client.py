"""The README's second-language example, run as written: Java registers, produces and consumes.

``docs/examples/java/QloopRoundTrip.java`` uses Apache Avro's ``BinaryMessageEncoder`` and the
plain Kafka client, with no qloop code; this test resolves its jars with Maven (Java 17+ and Maven
are on every machine that runs the tests) and runs it against a real worker.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipeline_support import stack_settings

from streams.local.kafka_runtime import cache_dir
from streams.local.stack import LocalStack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "java"
SETS = 5


@pytest.fixture(scope="module")
def java_libs() -> Path:
    assert shutil.which("java") and shutil.which("mvn"), "Java 17+ and Maven run the examples"
    libs = cache_dir().parent / "java-example-libs"
    subprocess.run(
        [
            "mvn",
            "-q",
            "-f",
            str(EXAMPLE / "pom.xml"),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
        ],
        check=True,
        timeout=600,
    )
    return libs


@pytest.fixture(scope="module")
def stack(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    settings = stack_settings(kafka_bootstrap, tmp_path_factory.mktemp("java"), max_wait_ms=200)
    with LocalStack(settings) as running:
        yield running
        running.check()


def test_the_java_example_round_trips(stack: LocalStack, java_libs: Path) -> None:
    run = subprocess.run(
        [
            "java",
            "-cp",
            f"{java_libs}/*",
            str(EXAMPLE / "QloopRoundTrip.java"),
            stack.settings.bootstrap,
            stack.settings.topic_prefix,
            str(ROOT / "schemas"),
            str(SETS),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:] + run.stdout[-2000:]
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    results = [line for line in lines if "event_id" in line]
    assert lines[-1] == {"done": SETS}
    assert len({r["event_id"] for r in results}) == SETS == len(results)
    assert all(r["status"] == "SUCCEEDED" for r in results)
    assert all(r["shots"] == 1000 for r in results)
    assert all(r["exact_parameters"] for r in results)  # doubles exact with Avro >= 1.12.1
    assert all(r["topology_key"].startswith("topo:") for r in results)  # computed by qloop
