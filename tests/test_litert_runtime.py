"""LiteRT's native messages are captured and logged once each, never thrown away, and the
start-up self-check knows which models XNNPACK took."""

import subprocess
import sys
from pathlib import Path

from kiosk import litert

REPO = Path(__file__).resolve().parents[1]
PNET = REPO / "models" / "mtcnn_pnet.tflite"

SCRIPT = f"""
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="LOG %(levelname)s %(message)s")
logging.getLogger("facekiosk").propagate = True
from kiosk.litert import load_interpreter, runtime_report, native_messages
for _ in range(3):
    load_interpreter({str(PNET)!r}, 2)
load_interpreter({str(REPO / 'models' / 'mtcnn_rnet.tflite')!r}, 2)
print("REPORT", runtime_report())
print("NATIVE", native_messages())
"""


def test_native_messages_are_logged_once_and_xnnpack_is_reported():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # LiteRT prints this to fd 2 itself; the kiosk logs it (once), it does not leak raw.
    native = [line for line in out.splitlines() if line.startswith("LOG INFO LiteRT native:")]
    assert len(native) == 1 and "XNNPACK delegate" in native[0], out
    assert "XNNPACK delegate" not in result.stderr
    per_model = [line for line in out.splitlines() if "runs on XNNPACK" in line]
    assert len(per_model) == 2, out  # one line per model, not per load
    assert "REPORT (True, 'XNNPACK active for all 2 models')" in out


def test_a_model_without_the_delegate_is_detected():
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    plain = Interpreter(model_path=str(PNET), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    assert litert.uses_xnnpack(plain) is False
    fast = Interpreter(model_path=str(PNET))
    fast.allocate_tensors()
    assert litert.uses_xnnpack(fast) is True


def test_report_names_slow_models_and_the_cpuinfo_message(monkeypatch):
    monkeypatch.setattr(litert, "_models", {
        "a.tflite": litert.ModelRuntime("a.tflite", True, 2), "b.tflite": litert.ModelRuntime("b.tflite", False, 2)})
    monkeypatch.setattr(litert, "_native_messages", [
        "Error in cpuinfo: failed to parse processor information from /proc/cpuinfo"])
    ok, text = litert.runtime_report()
    assert not ok and "b.tflite" in text and "a.tflite" not in text and "cpuinfo" in text


def test_cpuinfo_error_is_a_warning_with_the_fix(monkeypatch):
    """Counted on the litert logger itself: an earlier test's logging set-up (handlers on
    "facekiosk") must not decide how many records this one sees."""
    import logging

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("facekiosk.litert")
    handler = Collect(logging.INFO)
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    monkeypatch.setattr(litert, "_seen_messages", set())
    monkeypatch.setattr(litert, "_native_messages", [])
    line = "Error in cpuinfo: failed to parse processor information from /proc/cpuinfo"
    try:
        litert._log_native([line, line])
    finally:
        logger.removeHandler(handler)
    warnings = [r for r in records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "ProcSubset=pid" in warnings[0].getMessage()
