"""Code run around the first import of another package, without importing it now.

``import rsed`` must stay cheap (no TensorFlow, so that ``rsed detect missing.wav`` answers
at once), yet two things must happen when TensorFlow or Keras do get imported, by rsed or by
its user: rsed's Keras objects are registered right after ``keras`` is imported (so that
``import rsed; keras.saving.load_model(path)`` works), and the command line silences the lines
TensorFlow's C++ libraries print to stderr while they load. :func:`wrap_import` puts a finder
first on ``sys.meta_path`` that finds the package with the other finders and wraps its loader;
the finder leaves ``sys.meta_path`` when the package is imported.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import threading
from typing import Callable


class _WrappingLoader(importlib.abc.Loader):
    """The package's own loader, its ``exec_module`` run inside the hook's wrapper."""

    def __init__(self, loader, hook: "_ImportHook"):
        self._loader = loader
        self._hook = hook

    def __getattr__(self, name):
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._hook.remove()
        self._hook.wrapper(lambda: self._loader.exec_module(module))


class _ImportHook(importlib.abc.MetaPathFinder):
    def __init__(self, name: str, wrapper: Callable[[Callable[[], None]], None]):
        self.name = name
        self.wrapper = wrapper
        self._finding = threading.local()

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or getattr(self._finding, "active", False):
            return None
        self._finding.active = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding.active = False
        if spec is not None and spec.loader is not None:
            spec.loader = _WrappingLoader(spec.loader, self)
        return spec

    def remove(self) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if f is not self]


def wrap_import(name: str, wrapper: Callable[[Callable[[], None]], None]) -> bool:
    """Run the first import of the top-level package ``name`` as ``wrapper(execute)``.

    ``wrapper`` must call ``execute()`` once (it runs the package's code). Returns False, and
    does nothing, when ``name`` is imported already or a hook for it is in place.
    """
    if name in sys.modules or any(isinstance(f, _ImportHook) and f.name == name for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _ImportHook(name, wrapper))
    return True
