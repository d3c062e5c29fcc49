"""``qloop bench``: the pipeline against the raw simulator limit and the naive way.

Four ways evaluate the same parameter sets, interleaved, several repetitions, medians quoted:

- **limit**: Qiskit directly, no Kafka; each template transpiled once (outside the timing),
  all sets in one Aer call, with the fastest Aer run options of :data:`LIMIT_OPTIONS` (each is
  run every repetition and the fastest counts).
- **qloop**: the full pipeline on one :class:`~streams.local.stack.LocalStack`, a fresh experiment
  id per repetition, timed from the first produce to the last stored row in ClickHouse
  (``max(ingested_at)`` of the experiment's rows); per-event latency is the result's
  ``timings.end_to_end_ms`` (produce to result event).
- **naive**: per set bind, transpile, run one job and wait. At large N a sample of sets is
  timed and the total extrapolated; the output says so (``naive_extrapolated_from``).
- **remote**: qloop against a worker whose backends pay a fixed per-submission overhead,
  versus the naive way paying it per job (sleep), N = 100.

Progress goes to stderr; :func:`run_bench` returns one JSON-able dict.
"""

from streams.bench.direct import DirectRunner
from streams.bench.pipeline_run import run_qloop
from streams.bench.report import markdown_table
from streams.bench.rss import PeakRss
from streams.bench.runner import run_bench
from streams.bench.stats import extrapolate, latency_summary, median, percentile, ratio
from streams.bench.workloads import BenchCase, estimator_case, sampler_case

__all__ = [
    "BenchCase",
    "DirectRunner",
    "PeakRss",
    "estimator_case",
    "extrapolate",
    "latency_summary",
    "markdown_table",
    "median",
    "percentile",
    "ratio",
    "run_bench",
    "run_qloop",
    "sampler_case",
]
