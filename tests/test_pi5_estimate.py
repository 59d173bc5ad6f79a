"""The Pi 5 estimate's inputs and arithmetic (benchmarks/pi5_estimate.py): every published
figure has a network to measure it against, the scaling is the one documented, and ncnn runs
a reference network here on one thread."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.pi5_estimate import PARAMS, NcnnNet, estimate, load_reference, output_blob, ratios_by_kind


def test_every_published_figure_has_its_network_input_and_kind():
    reference = load_reference()
    assert reference["threads"] == 1
    for key, board in reference["references"].items():
        assert board["source"] and board["board"], key
        low, high = board["scale"]
        assert 0 < low <= high <= 1, key  # a Pi 5 is never slower than the board it is scaled from
        for net, ms in board["ms"].items():
            assert ms > 0, (key, net)
            assert net in reference["input"] and net in reference["kind"], (key, net)
    for net in reference["input"]:
        param = PARAMS / f"{net}.param"
        assert param.read_text().startswith("7767517\n"), net


def test_output_blob_is_the_last_layers_output(tmp_path: Path):
    param = tmp_path / "two.param"
    param.write_text("7767517\n2 3\nInput data 0 1 data 0=8 1=8 2=3\nConcat cat 2 1 a b joined 0=0\n")
    assert output_blob(param) == "joined"
    assert output_blob(PARAMS / "mobilenet_v2.param") == "prob"  # older copies name it prob
    assert output_blob(PARAMS / "resnet50.param") == "output"


def test_ratio_is_the_boards_time_scaled_over_the_time_here():
    reference = {"kind": {"a": "depthwise", "b": "plain"}}
    board = {"ms": {"a": 30.0, "b": 80.0, "missing_here": 5.0}, "scale": [0.5, 1.0]}
    ratios = ratios_by_kind(reference, board, {"a": 10.0, "b": 20.0})
    assert ratios["depthwise"] == [1.5, 3.0]
    assert ratios["plain"] == [2.0, 4.0]
    assert sorted(ratios["all"]) == [1.5, 2.0, 3.0, 4.0]


def test_estimate_scales_each_stage_by_its_kind_and_the_rest_by_all():
    ratios = {"all": [1.0, 2.0, 3.0], "plain": [2.0, 4.0], "depthwise": [1.0]}
    stages = {"detect": 10.0, "embed:sface": 5.0, "align": 1.0, "embed": 5.0, "end_to_end": 20.0}
    kinds = {"detect": "plain", "embed:sface": "depthwise"}
    out = estimate(stages, kinds, ratios)
    assert out["detect"]["pi5_ms"] == 30.0 and out["detect"]["pi5_range_ms"] == [20.0, 40.0]
    assert out["embed:sface"]["pi5_ms"] == 5.0
    assert out["align"]["pi5_ms"] == 2.0  # no kind: the median of all
    assert "embed" not in out  # a sum of stages, not a stage
    # 30 + 5 + 2 for the stages, and the 4 ms they do not cover at the median of all (2).
    assert out["end_to_end"]["pi5_ms"] == 45.0
    assert out["end_to_end"]["pi5_range_ms"] == [20 + 5 + 1 + 4, 40 + 5 + 3 + 12]


def test_a_reference_network_runs_here_on_one_thread():
    pytest.importorskip("ncnn", reason="the bench extra (make test installs it)")
    reference = load_reference()
    net = NcnnNet(PARAMS / "blazeface.param", reference["input"]["blazeface"], threads=1)
    assert net.output == "output"
    assert all(net.run() > 0 for _ in range(3))  # a run whose extract fails raises
