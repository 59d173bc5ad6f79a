"""What a Raspberry Pi 5 can be expected to reach with the kiosk's default pipeline,
estimated on this machine: no figure here is a device measurement.

    python benchmarks/pi5_estimate.py [--rounds 40] [--json] [--config FILE]

The proxy of one Pi 5 core is one thread here. The kiosk's own ``FacePipeline.analyze``
plus a 1:N match (``benchmarks/latency.py``'s frame to decision, with
``models.num_threads: 1``) runs interleaved, round by round, with ncnn's ``benchncnn``
reference networks (their ``.param`` network definitions with empty weights, as benchncnn
runs them; ``benchmarks/pi5/``). Their one-thread times are published for boards with the
Pi 5's core and clock (Cortex-A76 at 2.4 GHz) and for a Raspberry Pi 4
(``benchmarks/pi5/published.json``, with sources). Interleaving matters because this
host's speed drifts by a third within minutes: a ratio of two things measured in the same
minutes holds when neither time alone does.

For each reference network, ratio = published time (scaled to a Pi 5 for the Pi 4) / time
here. The estimate of a kiosk stage is its one-thread time here times the median ratio of
the networks of its kind (``stage_kinds``: depthwise-separable networks for SFace, plain
convolutions for MTCNN and dlib's ResNet; the median of all for the rest), with the range
of those ratios; one estimate per published board.

Why it is only an estimate, and which way it may lean:
- The boards' figures differ about twofold on the same core: ncnn's version and build,
  which the published figures do not state, matter as much as the hardware.
- ncnn is not LiteRT. ncnn is tuned for ARM first, and on the A76 (ARMv8.2) it may compute
  in half precision, while the kiosk's LiteRT computes its fp16-weight models in fp32. Both
  favour the Pi: the low end of the range is the likelier to be optimistic.
- A Pi 5 without its cooler throttles under sustained load.
The device figure remains ``benchmarks/latency.py --threads 1,2`` on a Pi 5 under the
unit's sandbox, with ``facekiosk doctor`` saying XNNPACK is active.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.latency import GALLERY_SIZE, frame_to_decision, kiosk_frame, random_gallery, with_models  # noqa: E402
from kiosk.config import config_path, load_config  # noqa: E402
from kiosk.litert import native_stderr_captured, runtime_report  # noqa: E402
from kiosk.vision.pipeline import FacePipeline  # noqa: E402

REFERENCE = REPO / "benchmarks" / "pi5" / "published.json"
PARAMS = REPO / "benchmarks" / "pi5"


def load_reference(path: Path = REFERENCE) -> dict:
    """The published figures (benchmarks/pi5/published.json): threads, each network's input
    [w, h, c] and kind, and one entry per published board under "references", each with
    its source, "ms" per network and "scale" [low, high]: what multiplies that board's
    times into a Pi 5's ([1, 1] for the Pi 5's own core)."""
    return json.loads(path.read_text())


def output_blob(param: Path) -> str:
    """The last layer's output blob of an ncnn .param file ("output" in newer copies,
    "prob" in older ones). A layer line: type name n_in n_out inputs... outputs... params."""
    fields = param.read_text().strip().splitlines()[-1].split()
    n_in, n_out = int(fields[2]), int(fields[3])
    return fields[4 + n_in + n_out - 1]


class NcnnNet:
    """One benchncnn network with empty weights, run with ``threads`` threads."""

    def __init__(self, param: Path, shape: list[int], threads: int):
        try:
            import ncnn  # the "bench" extra; only this script needs it
        except ImportError:
            raise SystemExit("pi5_estimate: needs the ncnn package: pip install -e '.[bench]'") from None

        self.name = param.stem
        self.net = ncnn.Net()
        self.net.opt.num_threads = threads
        self.net.opt.lightmode = True
        if self.net.load_param(str(param)) != 0:
            raise SystemExit(f"pi5_estimate: cannot read {param}")
        self.net.load_model(ncnn.DataReaderFromEmpty())
        w, h, c = shape
        self.input = ncnn.Mat(np.random.default_rng(0).random((c, h, w), dtype=np.float32))
        self.output = output_blob(param)

    def run(self) -> float:
        """One inference, in ms."""
        start = time.perf_counter()
        ex = self.net.create_extractor()
        ex.input("data", self.input)
        status, _ = ex.extract(self.output)
        elapsed = (time.perf_counter() - start) * 1e3
        if status != 0:
            raise RuntimeError(f"ncnn could not run {self.name} (status {status})")
        return elapsed


def ratios_by_kind(reference: dict, board: dict, here_ms: dict[str, float]) -> dict[str, list[float]]:
    """Pi 5 ms (the board's published ms times each end of its scale) / measured ms here,
    grouped by network kind (and "all")."""
    out: dict[str, list[float]] = {"all": []}
    for net, published in board["ms"].items():
        if net not in here_ms:
            continue
        for scale in sorted(set(board["scale"])):
            ratio = published * scale / here_ms[net]
            out.setdefault(reference["kind"][net], []).append(ratio)
            out["all"].append(ratio)
    return out


def estimate(stage_ms: dict[str, float], stage_kind: dict[str, str], ratios: dict[str, list[float]]) -> dict:
    """Each stage's time here times the median ratio of its kind (range: min and max
    ratio), and frame to decision as the sum of the stages' estimates (what the stages do
    not cover, scaled by the median of all)."""
    out = {}
    low = mid = high = 0.0
    covered = 0.0
    for stage, ms in stage_ms.items():
        if stage in ("embed", "end_to_end"):
            continue  # sums of the others
        r = ratios.get(stage_kind.get(stage, "all")) or ratios["all"]
        out[stage] = {"here_ms": round(ms, 2), "ratio_median": round(statistics.median(r), 3),
                      "pi5_ms": round(ms * statistics.median(r), 1),
                      "pi5_range_ms": [round(ms * min(r), 1), round(ms * max(r), 1)]}
        covered += ms
        low, mid, high = low + ms * min(r), mid + ms * statistics.median(r), high + ms * max(r)
    rest = max(0.0, stage_ms["end_to_end"] - covered)
    r = ratios["all"]
    out["end_to_end"] = {"here_ms": round(stage_ms["end_to_end"], 2),
                         "ratio_median": round((mid + rest * statistics.median(r)) / stage_ms["end_to_end"], 3),
                         "pi5_ms": round(mid + rest * statistics.median(r), 1),
                         "pi5_range_ms": [round(low + rest * min(r), 1), round(high + rest * max(r), 1)]}
    return out


def stage_kinds(pipeline: FacePipeline) -> dict[str, str]:
    """Which reference kind stands for each kiosk stage."""
    kinds = {"detect": "plain"}
    for embedder in pipeline.embedders:
        name = embedder.manifest.name
        kinds[f"embed:{name}"] = "depthwise" if name.startswith("sface") else "plain"
    return kinds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40, help="interleaved rounds (default 40)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--config", help="kiosk config (default: $FACEKIOSK_CONFIG or ./config.yml)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    reference = load_reference()
    threads = int(reference["threads"])
    settings = load_config(config_path(args.config))
    pipeline = FacePipeline.from_settings(with_models(settings, num_threads=threads))
    threshold = pipeline.threshold(settings.verification.security_level)
    gallery = random_gallery(GALLERY_SIZE, pipeline.embedder.manifest.embedding_size, pipeline.metric)
    frame = kiosk_frame()
    nets = {net: NcnnNet(PARAMS / f"{net}.param", shape, threads) for net, shape in reference["input"].items()}

    kiosk_times: dict[str, list[float]] = {}
    net_times: dict[str, list[float]] = {net: [] for net in nets}
    # ncnn prints a deprecation notice on every run of the older networks' 1x1 "dense"
    # convolutions: keep it off the terminal, and its distinct lines in the report.
    ncnn_said: list[str] = []
    with native_stderr_captured(ncnn_said):
        for _ in range(args.warmup):
            frame_to_decision(pipeline, gallery, threshold, frame)
            for n in nets.values():
                n.run()
        load_before = os.getloadavg()
        for _ in range(args.rounds):
            for stage, ms in frame_to_decision(pipeline, gallery, threshold, frame).items():
                kiosk_times.setdefault(stage, []).append(ms)
            for net, n in nets.items():
                net_times[net].append(n.run())
        load_after = os.getloadavg()
    xnnpack_ok, xnnpack_line = runtime_report()

    here = {net: statistics.median(t) for net, t in net_times.items()}
    stages = {s: statistics.median(t) for s, t in kiosk_times.items()}
    kinds = stage_kinds(pipeline)
    boards = {}
    for key, board in reference["references"].items():
        ratios = ratios_by_kind(reference, board, here)
        boards[key] = {"board": board["board"], "source": board["source"], "scale": board["scale"],
                       "ratios": {net: [round(board["ms"][net] * sc / here[net], 3) for sc in sorted(set(board["scale"]))]
                                  for net in board["ms"] if net in here},
                       "estimate": estimate(stages, kinds, ratios)}
    e2e = [b["estimate"]["end_to_end"] for b in boards.values()]
    report = {
        "threads": threads,
        "rounds": args.rounds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
        "litert": {"xnnpack_active": xnnpack_ok, "report": xnnpack_line},
        "ncnn_messages": list(dict.fromkeys(ncnn_said)),
        "here_ms": {**{s: round(v, 2) for s, v in stages.items()}, **{net: round(v, 2) for net, v in here.items()}},
        "references": boards,
        "pi5_frame_to_decision_ms": {"low": min(e["pi5_range_ms"][0] for e in e2e),
                                     "median_of_references": round(statistics.median(e["pi5_ms"] for e in e2e), 1),
                                     "high": max(e["pi5_range_ms"][1] for e in e2e)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"LiteRT: {xnnpack_line}")
    print(f"{threads} thread, {args.rounds} interleaved rounds, load {report['load_average_before'][0]} -> {report['load_average_after'][0]}")
    print("here (p50 ms): " + ", ".join(f"{k} {v}" for k, v in report["here_ms"].items()))
    for key, b in boards.items():
        print(f"{key}: {b['board']} (scale {b['scale']})")
        for stage, e in b["estimate"].items():
            print(f"  {stage:28s} here {e['here_ms']:7.2f} ms  x{e['ratio_median']:.2f} -> Pi 5 about {e['pi5_ms']} ms"
                  f" ({e['pi5_range_ms'][0]}-{e['pi5_range_ms'][1]})")
    f = report["pi5_frame_to_decision_ms"]
    print(f"Pi 5 frame to decision, one thread: {f['low']}-{f['high']} ms (median of the references {f['median_of_references']}): an estimate, not a measurement")
    return 0


if __name__ == "__main__":
    sys.exit(main())
