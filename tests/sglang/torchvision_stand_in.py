"""An inert stand-in for ``torchvision``, so that SGLang's OpenAI serving module imports on CPU.

``sglang.srt.entrypoints.openai.serving_chat`` imports ``sglang.srt.managers.io_struct``, which
imports SGLang's model configs (``sglang.srt.configs``), some of which import ``torchvision``
at module level for image models (``sglang/srt/multimodal/internvl_utils.py``: ``import
torchvision.transforms as T``). No torchvision runs on this machine's CPU torch: PyPI's
torchvision wheels are CUDA builds (their ``_C.so`` needs ``libtorch_cuda.so``; importing one
fails with "operator torchvision::nms does not exist"), and PyTorch's CPU wheel index is not
reachable from here. The chat path under test (text in, text out) never calls torchvision; the
stand-in only lets those config modules import: every ``torchvision.*`` module is empty and every
attribute an inert object; its metadata says version 0.28.0 (transformers reads it). Installed
only when no real torchvision is importable.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import importlib.util
import sys
import types
from typing import Any


class _Inert:
    """Any attribute, call, subscript or base class of it is inert too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __call__(self, *args: Any, **kwargs: Any) -> _Inert:
        return _Inert()

    def __getattr__(self, name: str) -> _Inert:
        return _Inert()

    def __class_getitem__(cls, key: Any) -> type[_Inert]:
        return cls

    def __iter__(self) -> Any:
        return iter(())

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)


class _Module(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Inert()


VERSION = "0.28.0"  # the torchvision of torch 2.13


class _Distribution(importlib.metadata.Distribution):
    """Metadata for the stand-in: transformers checks torchvision's version before it uses it."""

    def read_text(self, filename: str) -> str | None:
        return f"Metadata-Version: 2.1\nName: torchvision\nVersion: {VERSION}\n" if filename == "METADATA" else None

    def locate_file(self, path: Any) -> Any:
        return path


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_distributions(self, context: Any = None) -> Any:
        name = getattr(context, "name", None)
        return iter([_Distribution()] if name in ("torchvision", None) else [])

    def find_spec(self, name: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if name == "torchvision" or name.startswith("torchvision."):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _Module(spec.name)
        module.__path__ = []
        module.__version__ = VERSION  # type: ignore[attr-defined]
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def install() -> bool:
    """Install the stand-in unless a real torchvision is importable; True if installed."""
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return True
    try:
        if importlib.util.find_spec("torchvision") is not None:
            import torchvision  # noqa: F401

            return False
    except Exception:  # a CUDA build on CPU torch fails here
        for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
            del sys.modules[name]
    sys.meta_path.insert(0, _Finder())
    return True
