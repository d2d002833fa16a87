"""The roofline's flop/byte table and intensity arithmetic (benchmarks/roofline.py)."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def roofline():
    spec = importlib.util.spec_from_file_location(
        "roofline_bench", os.path.join(ROOT, "benchmarks", "roofline.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table_covers_the_kernels_with_positive_counts(roofline):
    names = set(roofline.KERNELS)
    assert {"star r=1", "star r=2", "box r=1", "box r=2", "diffusion", "local_sum_exact",
            "local_moments", "climate accumulate"} <= names
    for name, e in roofline.kernel_table().items():
        assert e["flops"] > 0 and e["bytes"] > 0, name
        assert e["intensity"] == pytest.approx(e["flops"] / e["bytes"])


def test_stencil_counts_follow_the_point_count(roofline):
    k = roofline.KERNELS
    # 2 flops (multiply, add) per stencil point; read a, read and write out (8 B each)
    assert [k[f"star r={r}"]["flops"] for r in (1, 2)] == [10, 18]
    assert [k[f"box r={r}"]["flops"] for r in (1, 2)] == [18, 50]
    assert {k[n]["bytes"] for n in ("star r=1", "star r=2", "box r=1", "box r=2")} == {24}
    assert k["diffusion"]["bytes"] == 16
    assert roofline.intensity(k["local_sum_exact"]) == pytest.approx(1.0)


def test_climate_bytes_amortise_the_accumulators_over_the_chunk(roofline):
    one, many = roofline._climate(nt=1), roofline._climate(nt=1000)
    assert one["bytes"] == pytest.approx(8 + 136)
    assert many["bytes"] == pytest.approx(8 + 0.136)
    assert roofline._climate(nt=48, itemsize=4)["bytes"] == pytest.approx(4 + 136 / 48)


def test_roof_is_the_lower_of_the_two_ceilings(roofline):
    assert roofline.roof(0.1, 100.0, 20.0) == pytest.approx(2.0)     # memory bound
    assert roofline.roof(10.0, 100.0, 20.0) == pytest.approx(100.0)  # compute bound
    assert roofline.roof(5.0, 100.0, 20.0) == pytest.approx(100.0)   # the ridge
    with pytest.raises(ValueError, match="bytes > 0"):
        roofline.intensity({"flops": 1, "bytes": 0})
