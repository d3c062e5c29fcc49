"""The SQL behind :mod:`sinks.drift`, kept apart so the Python reads as the decision logic.

Per run: n = total shots, ks = union of measured and ideal bitstrings (a missing Map key reads
as 0), TV = 1/2 sum |p - q|, Hellinger = sqrt(1/2 sum (sqrt p - sqrt q)^2). Per backend and
template: recent vs baseline means, baseline standard deviation floored at the shot noise
(0.5 / sqrt(shots) for the distances, sqrt(max(1 - e^2, 1 / shots) / shots) for an expectation
value: the 1 / shots term keeps a noiseless baseline, e = 1 exactly, from dividing by zero), and
the distances between the pooled recent and pooled baseline counts.
"""

from __future__ import annotations

DRIFT_SQL = """
WITH runs AS (
    SELECT backend, template, calibration_id, shots, counts, expectation,
           run_at >= {recent_start:DateTime64(6)} AS is_recent,
           toFloat64(arraySum(mapValues(counts))) AS n,
           arrayDistinct(arrayConcat(mapKeys(counts), mapKeys(ideal))) AS ks,
           0.5 * arraySum(k -> abs(counts[k] / n - ideal[k]), ks) AS tv,
           sqrt(greatest(0., 0.5 * arraySum(k -> pow(sqrt(counts[k] / n) - sqrt(ideal[k]), 2), ks)))
               AS hel
    FROM qloop.canary_runs
    WHERE run_at >= {baseline_start:DateTime64(6)} AND run_at <= {end:DateTime64(6)}
),
per_key AS (
    SELECT backend, template,
           countIf(is_recent) AS n_recent, countIf(NOT is_recent) AS n_base,
           groupUniqArrayIf(calibration_id, is_recent) AS cal_recent,
           groupUniqArrayIf(calibration_id, NOT is_recent) AS cal_base,
           greatest(0.5 / sqrt(greatest(1., avg(shots))), 1e-9) AS dist_floor,
           avgIf(tv, is_recent) AS tv_r, avgIf(tv, NOT is_recent) AS tv_b,
           ifNotFinite(stddevSampIf(tv, NOT is_recent), 0.) AS tv_s,
           avgIf(hel, is_recent) AS hel_r, avgIf(hel, NOT is_recent) AS hel_b,
           ifNotFinite(stddevSampIf(hel, NOT is_recent), 0.) AS hel_s,
           sumMapIf(counts, is_recent) AS pooled_r, sumMapIf(counts, NOT is_recent) AS pooled_b,
           avgIf(expectation, is_recent AND expectation IS NOT NULL) AS ex_r,
           avgIf(expectation, NOT is_recent AND expectation IS NOT NULL) AS ex_b,
           ifNotFinite(stddevSampIf(expectation, NOT is_recent AND expectation IS NOT NULL), 0.)
               AS ex_s,
           avg(shots) AS mean_shots
    FROM runs
    GROUP BY backend, template
    HAVING n_recent > 0
)
SELECT backend, template, n_recent, n_base, cal_recent, cal_base,
       tv_r, tv_b, (tv_r - tv_b) / greatest(tv_s, dist_floor),
       hel_r, hel_b, (hel_r - hel_b) / greatest(hel_s, dist_floor),
       0.5 * arraySum(k -> abs(pooled_r[k] / toFloat64(arraySum(mapValues(pooled_r)))
                               - pooled_b[k] / toFloat64(arraySum(mapValues(pooled_b)))),
                      arrayDistinct(arrayConcat(mapKeys(pooled_r), mapKeys(pooled_b)))) AS tv_base,
       sqrt(greatest(0., 0.5 * arraySum(
           k -> pow(sqrt(pooled_r[k] / toFloat64(arraySum(mapValues(pooled_r))))
                    - sqrt(pooled_b[k] / toFloat64(arraySum(mapValues(pooled_b)))), 2),
           arrayDistinct(arrayConcat(mapKeys(pooled_r), mapKeys(pooled_b)))))) AS hel_base,
       ex_r, ex_b,
       (ex_r - ex_b)
           / greatest(ex_s, sqrt(greatest(1 / mean_shots, 1 - ex_b * ex_b) / mean_shots)) AS ex_z
FROM per_key
ORDER BY backend, template
"""

# One row per (calibration, qubit): FINAL collapses the snapshot the canary re-records every round.
CALIBRATION_SQL = """
SELECT calibration_id, qubit, avg(t1_us), avg(t2_us), avg(readout_error)
FROM qloop.calibrations FINAL
WHERE backend = {backend:String} AND has({ids:Array(String)}, calibration_id)
GROUP BY calibration_id, qubit
ORDER BY calibration_id, qubit
"""

__all__ = ["CALIBRATION_SQL", "DRIFT_SQL"]
