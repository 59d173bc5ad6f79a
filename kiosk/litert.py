"""LiteRT interpreter loading: ai-edge-litert first, tflite-runtime as a fallback."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator

from kiosk.errors import ModelError


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
    try:
        with _native_stderr_silenced():
            interpreter = interpreter_class(model_path=str(path), num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelError(f"cannot load model {path}: {err}") from None
    return interpreter


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """LiteRT's C++ side prints an INFO line per interpreter straight to fd 2; a kiosk's
    CLI output and journal should not fill with it. Python-level errors still surface."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
