from proc_factories import ansatz

from processors import AerAdapter, CompileCache, make_template
from processors.backends.aer import default_noise_model


def test_compiles_once_per_template_and_backend(sampler_template) -> None:
    other = make_template(ansatz(3, reps=2), "ra3-r2")
    ideal, noisy = (
        AerAdapter(),
        AerAdapter("aer_simulator_noisy", noise_model=default_noise_model()),
    )
    cache = CompileCache(max_entries=16)
    records = []
    for _ in range(3):
        for template in (sampler_template, other):
            for backend in (ideal, noisy):
                compiled = cache.get(template, backend)
                if not compiled.hit:
                    records.append(compiled.record)
    assert cache.stats.misses == len(records) == 4  # distinct (template, backend) pairs
    assert cache.stats.hits == 8
    assert cache.stats.compile_seconds > 0
    record = records[0]
    assert record.template_id == sampler_template.template_id and record.depth > 0
    assert record.transpiler_settings["seed_transpiler"] == str(cache.settings.seed_transpiler)


def test_lru_bound_and_determinism(sampler_template) -> None:
    other = make_template(ansatz(3, reps=2), "ra3-r2")
    backend = AerAdapter()
    cache = CompileCache(max_entries=1)
    first = cache.get(sampler_template, backend).circuit
    cache.get(other, backend)
    assert len(cache) == 1 and cache.stats.evictions == 1
    again = cache.get(sampler_template, backend)
    assert not again.hit and again.circuit == first  # same seed, same artifact


def test_estimator_variant_strips_measurements(sampler_template) -> None:
    cache = CompileCache()
    compiled = cache.get(sampler_template, AerAdapter(), strip_measurements=True)
    assert all(i.operation.name != "measure" for i in compiled.circuit.data)
