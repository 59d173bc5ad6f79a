"""LiteRT interpreter loading: ai-edge-litert first, tflite-runtime as a fallback.

LiteRT's C++ side writes straight to file descriptor 2 (``INFO: Created TensorFlow Lite
XNNPACK delegate for CPU.``, and on ARM under a sandbox that hides ``/proc/cpuinfo``:
``Error in cpuinfo: failed to parse processor information``, after which XNNPACK is not
used and every model runs on the slow built-in kernels). Those messages are captured
around each load and logged once each (the journal under systemd), never thrown away.
Each model's load also records whether the XNNPACK delegate took it (a ``DELEGATE``
node in its graph): :func:`runtime_report` is the start-up self-check ``facekiosk
doctor`` prints and the service logs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from kiosk.errors import ModelError

LOG = logging.getLogger("facekiosk.litert")
CPUINFO_FIX = ("LiteRT could not read the CPU's description (/proc/cpuinfo, /sys/devices/system/cpu): XNNPACK is off "
               "and models run several times slower; the unit must not set ProcSubset=pid")


@dataclass(frozen=True)
class ModelRuntime:
    """How one model file was loaded."""

    name: str
    xnnpack: bool  # the XNNPACK delegate took (part of) the graph
    threads: int


_lock = threading.Lock()
_seen_messages: set[str] = set()
_native_messages: list[str] = []
_models: dict[str, ModelRuntime] = {}


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError:
            raise ModelError(
                "no LiteRT runtime: install 'ai-edge-litert' (or 'tflite-runtime' on numpy<2)"
            ) from None
    return Interpreter


def load_interpreter(path: str | Path, num_threads: int = 2) -> Any:
    """Return an allocated interpreter for a ``.tflite`` file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    interpreter_class = _interpreter_class()
    captured: list[str] = []
    try:
        with native_stderr_captured(captured):
            interpreter = interpreter_class(model_path=str(path), num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelError(f"cannot load model {path}: {err}") from None
    finally:
        _log_native(captured)
    _record(path.name, uses_xnnpack(interpreter), num_threads)
    return interpreter


def uses_xnnpack(interpreter: Any) -> bool:
    """True when a delegate (LiteRT's default is XNNPACK) replaced nodes of the graph."""
    try:
        details = interpreter._get_ops_details()
    except (AttributeError, ValueError, RuntimeError):
        return False
    return any(op.get("op_name") == "DELEGATE" for op in details)


def native_messages() -> list[str]:
    """Every distinct line LiteRT's native side printed so far, in order."""
    with _lock:
        return list(_native_messages)


def loaded_models() -> list[ModelRuntime]:
    with _lock:
        return list(_models.values())


def runtime_report() -> tuple[bool, str]:
    """(every loaded model on XNNPACK, one line saying which are and are not)."""
    models = loaded_models()
    if not models:
        return True, "no model loaded"
    slow = sorted(model.name for model in models if not model.xnnpack)
    cpuinfo = [line for line in native_messages() if "cpuinfo" in line.lower()]
    if not slow:
        return True, f"XNNPACK active for all {len(models)} models"
    text = f"XNNPACK NOT active for {len(slow)} of {len(models)} models ({', '.join(slow)}): built-in kernels, slow"
    if cpuinfo:
        text += f"; LiteRT said: {cpuinfo[0]}"
    return False, text


def _record(name: str, xnnpack: bool, threads: int) -> None:
    with _lock:
        if name in _models:
            return
        _models[name] = ModelRuntime(name, xnnpack, threads)
    if xnnpack:
        LOG.info("LiteRT: %s runs on XNNPACK (%d threads)", name, threads)
    else:
        LOG.warning("LiteRT: %s runs WITHOUT XNNPACK (slow built-in kernels)", name)


def _log_native(lines: list[str]) -> None:
    for line in lines:
        with _lock:
            if line in _seen_messages:
                continue
            _seen_messages.add(line)
            _native_messages.append(line)
        if "cpuinfo" in line.lower():
            LOG.warning("LiteRT native: %s (%s)", line, CPUINFO_FIX)
        elif line.startswith(("ERROR", "Error", "WARNING")):
            LOG.warning("LiteRT native: %s", line)
        else:
            LOG.info("LiteRT native: %s", line)


# Re-entrant: a capture may hold one open while a model loads (benchmarks/pi5_estimate.py).
_fd_lock = threading.RLock()


@contextlib.contextmanager
def native_stderr_captured(into: list[str]) -> Iterator[None]:
    """Point fd 2 at a temporary file meanwhile (here: while LiteRT loads), then hand its
    non-empty lines to ``into`` (what Python itself writes to stderr meanwhile is passed on,
    not lost)."""
    with _fd_lock, tempfile.TemporaryFile() as sink:
        saved = os.dup(2)
        try:
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
            into.extend(line.strip() for line in text.splitlines() if line.strip())
