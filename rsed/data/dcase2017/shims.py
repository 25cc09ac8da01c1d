"""The official synthesizer's shims: what it needs to run on current Python libraries.

Notes
-----
The official synthesizer (``TUT_Rare_sound_events_mixture_synthesizer/core.py`` from the code
zip) meets four problems on current Python libraries; each is handled by the narrowest shim
we found, active only while the synthesizer runs (:func:`official_synthesizer`):

- ``from IPython import embed`` at the top: while ``core`` is imported, ``IPython`` resolves to a
  stub whose ``embed`` raises (unless IPython is imported already); nothing else sees the stub.
- ``yaml.load(stream)`` without a Loader (a ``TypeError`` on PyYAML 6) and ``yaml.dump`` whose
  default flow style changed in PyYAML 5.1 (which changes the parameter hash, i.e. the folder
  name, and the hash in every mixture file name): the module's own ``yaml`` name is rebound to
  :data:`LEGACY_YAML`, which loads with a safe loader and dumps with the pre-5.1 defaults. The
  global ``yaml`` module is not touched. dcase_util's parameter hash gets the same treatment
  (:func:`official_param_hash`), so the default folder is the published
  ``20b255387a2d0cddc0a3dff5014875e7``; a folder with the PyYAML >= 5.1 name is recognised too.
- ``numpy.asscalar`` (removed in numpy 1.23) is reached by dcase_util's ``DictContainer.save``
  only for numpy scalars: every parameter handed to dcase_util is a plain Python number.
- The module keeps its class list in the global ``classnames``; it is set from the data for
  each call, and ``do_mixing`` is called without ``dcase_compatibility_mode`` when the module
  does not accept it.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import sys
import types
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np
import yaml

from ...config import MixtureConfig
from ...errors import DataError

#: The published parameter hash (folder name) of the default devtrain and devtest mixtures.
OFFICIAL_DEFAULT_HASH = "20b255387a2d0cddc0a3dff5014875e7"
#: Anti-clipping factor dcase_util passes to the official ``do_mixing``.
OFFICIAL_ANTI_CLIPPING = 0.2



class LegacyYamlLoader(yaml.SafeLoader):
    """Safe loader that also reads the ``!!python/str`` and ``!!python/unicode`` tags of Python 2 dumps."""


for _tag in ("tag:yaml.org,2002:python/str", "tag:yaml.org,2002:python/unicode"):
    LegacyYamlLoader.add_constructor(_tag, yaml.constructor.SafeConstructor.construct_yaml_str)


class _LegacyYaml(types.ModuleType):
    """What the official synthesizer sees as ``yaml``: PyYAML as it behaved before 5.1.

    ``load`` without a Loader uses :class:`LegacyYamlLoader` (safe); ``dump`` defaults to
    ``default_flow_style=None`` (the pre-5.1 default); everything else is PyYAML itself.
    """

    def __getattr__(self, name):
        return getattr(yaml, name)

    def load(self, stream, Loader=None):  # noqa: N803 (PyYAML's argument name)
        return yaml.load(stream, Loader=Loader or LegacyYamlLoader)

    def dump(self, data, stream=None, **kwargs):
        kwargs.setdefault("default_flow_style", None)
        return yaml.dump(data, stream, **kwargs)


#: The ``yaml`` the official synthesizer module is given (see :class:`_LegacyYaml`).
LEGACY_YAML = _LegacyYaml("yaml")


def official_parameters(config: MixtureConfig) -> dict:
    """The mixing parameters as dcase_util hands them to the official synthesizer (plain Python numbers)."""
    ebrs = [int(e) if float(e).is_integer() else float(e) for e in config.ebrs]
    return {
        "event_presence_prob": float(config.event_presence_prob),
        "mixtures_per_class": int(config.mixtures_per_class),
        "ebrs": ebrs,
        "seed": int(config.seed),
    }


def official_param_hash(config: MixtureConfig, *, legacy: bool = True) -> str:
    """The official folder name of ``config``: md5 of the YAML dump of :func:`official_parameters`.

    ``legacy=True`` dumps as PyYAML < 5.1 did (the published ``20b255387a2d0cddc0a3dff5014875e7``
    for the defaults); ``legacy=False`` gives what dcase_util 0.2.20 computes on PyYAML >= 5.1.
    """
    params = official_parameters(config)
    text = LEGACY_YAML.dump(params) if legacy else yaml.dump(params)
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _ipython_stub() -> types.ModuleType:
    stub = types.ModuleType("IPython")

    def embed(*args, **kwargs):
        raise RuntimeError("the official synthesizer called IPython.embed(); rsed runs it without IPython")

    stub.embed = embed
    stub.__rsed_stub__ = True
    return stub


_MISSING = object()


@contextlib.contextmanager
def official_synthesizer(code_dir: str | Path, recipe_classes: Mapping[str, list[str]], mix_classes: Mapping[str, list[str]]) -> Iterator[types.ModuleType]:
    """Import the official ``core.py`` as module ``core`` with the shims of this module's Notes.

    While the context is open, ``sys.modules['core']`` is the prepared module, so dcase_util's
    ``from core import generate_mixture_recipes, do_mixing`` gets it. Its
    ``generate_mixture_recipes`` runs for ``recipe_classes[subset]`` and ``do_mixing`` for
    ``mix_classes[subset]`` (nothing for a subset with no classes). ``sys.modules`` and
    ``sys.path`` are restored on exit.
    """
    core_py = Path(code_dir) / "core.py"
    if not core_py.is_file():
        raise DataError(core_py, "the official synthesizer is missing (extract the development code zip, or use synthesizer='rsed')")
    saved_core = sys.modules.pop("core", _MISSING)
    saved_path = list(sys.path)
    stubbed = "IPython" not in sys.modules
    try:
        spec = importlib.util.spec_from_file_location("core", core_py)
        module = importlib.util.module_from_spec(spec)
        sys.modules["core"] = module
        if stubbed:
            sys.modules["IPython"] = _ipython_stub()
        try:
            spec.loader.exec_module(module)
        except ImportError as exc:
            raise DataError(core_py, f"the official synthesizer cannot be imported ({exc}); install the missing package or use synthesizer='rsed'") from exc
        finally:
            if stubbed:
                sys.modules.pop("IPython", None)
        for name in ("generate_mixture_recipes", "do_mixing", "classnames"):
            if not hasattr(module, name):
                raise DataError(core_py, f"does not define {name!r}: not the DCASE 2017 Task 2 mixture synthesizer")
        module.yaml = LEGACY_YAML
        generate, mixing = module.generate_mixture_recipes, module.do_mixing
        compat = "dcase_compatibility_mode" in inspect.signature(mixing).parameters

        def generate_mixture_recipes(data_path, current_subsets=None, mixing_params=None):
            for subset in np.atleast_1d(current_subsets):
                names = list(recipe_classes.get(str(subset), []))
                if names:
                    module.classnames = names
                    generate(data_path=data_path, current_subsets=np.array([str(subset)]), mixing_params=mixing_params)

        def do_mixing(data_path, current_subsets=None, magic_anticlipping_factor=OFFICIAL_ANTI_CLIPPING, param_hash=None, **kwargs):
            if not compat:
                kwargs.pop("dcase_compatibility_mode", None)
            for subset in np.atleast_1d(current_subsets):
                names = list(mix_classes.get(str(subset), []))
                if names:
                    module.classnames = names
                    mixing(data_path=data_path, current_subsets=np.array([str(subset)]), magic_anticlipping_factor=magic_anticlipping_factor, param_hash=param_hash, **kwargs)

        module.generate_mixture_recipes = generate_mixture_recipes
        module.do_mixing = do_mixing
        yield module
    finally:
        sys.path[:] = saved_path
        if saved_core is _MISSING:
            sys.modules.pop("core", None)
        else:
            sys.modules["core"] = saved_core
