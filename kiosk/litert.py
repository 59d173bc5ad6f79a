"""LiteRT interpreter loading: ai-edge-litert first, tflite-runtime as a fallback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kiosk.errors import ModelError


def _interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter  # type: ignore[no-redef]
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
        interpreter = interpreter_class(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as err:
        raise ModelError(f"cannot load model {path}: {err}") from None
    return interpreter
