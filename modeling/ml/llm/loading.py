"""Loading causal LMs for local generation: saved checkpoints, hub ids in the local cache, and GGUF files, which
are converted to an ordinary transformers checkpoint once and cached, because reading GGUF de-quantizes every
tensor on every load (tens of seconds even for a 135M model)."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# Written last into a converted copy: a folder without it is an interrupted conversion and is redone.
CONVERSION_MARKER = "valueflow-conversion.json"


def load_causal_lm(
    model_path_or_id: str, *, gguf_file: str | None = None, cache_dir: str | Path | None = None
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Model and tokenizer for `model_path_or_id`: `smollm2-135m-instruct` (the packaged default),
    `tiny-random-llama` (random weights, for tests and smoke checks), a directory (with `gguf_file` naming a GGUF
    file inside it, or a saved checkpoint) or a hub id present in the local cache."""
    from modeling.ml.llm.smollm import SMOLLM2_MODEL_ID, smollm2_load
    from modeling.ml.llm.tiny import TINY_MODEL_ID, tiny_chat_model

    if model_path_or_id == SMOLLM2_MODEL_ID:
        return smollm2_load(cache_dir=cache_dir)
    if model_path_or_id == TINY_MODEL_ID:
        return tiny_chat_model()
    if gguf_file:
        cache_name = _slug(Path(gguf_file).stem)
        return load_gguf_cached(model_path_or_id, gguf_file=gguf_file, cache_dir=cache_dir, cache_name=cache_name)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path_or_id)
    model = AutoModelForCausalLM.from_pretrained(model_path_or_id)
    return model, tokenizer


def load_gguf_cached(
    directory: str | Path, *, gguf_file: str, cache_dir: str | Path | None, cache_name: str
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load `directory/gguf_file`; with a cache_dir, from the converted copy `cache_dir/cache_name`, converting
    first when the copy is missing, unfinished or made from another file."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = Path(directory) / gguf_file
    if not source.is_file():
        raise FileNotFoundError(f"GGUF file {source} does not exist")
    fingerprint = {"source": source.name, "bytes": source.stat().st_size}
    if cache_dir is None:
        return _load_from_gguf(source)

    target = Path(cache_dir) / cache_name
    if _conversion_matches(target, fingerprint):
        return AutoModelForCausalLM.from_pretrained(target), AutoTokenizer.from_pretrained(target)

    model, tokenizer = _load_from_gguf(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename into place, so that a crash or a second worker converting at the same
    # time never leaves a half-written copy where loads look.
    staging = Path(tempfile.mkdtemp(prefix=f".{cache_name}-", dir=target.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / CONVERSION_MARKER).write_text(json.dumps(fingerprint))
        if target.exists():
            stale = target.with_name(f".{cache_name}-stale-{os.getpid()}")
            os.replace(target, stale)
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(staging, target)
        except OSError:
            if not _conversion_matches(target, fingerprint):  # another process won the race with a good copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model, tokenizer


def _load_from_gguf(source: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        # On CPU transformers de-quantizes every GGUF tensor into plain float weights but still tags the model as
        # "quantized with gguf", which save_pretrained refuses. Drop the tag once no packed layer remains.
        packed = [name for name, module in model.named_modules() if type(module).__name__.startswith("Gguf")]
        if packed:
            raise ValueError(f"{source.name}: layers stayed GGUF-packed ({packed[0]}, …); cannot convert them")
        quantizer.remove_quantization_config(model)
    return model, tokenizer


def _conversion_matches(target: Path, fingerprint: dict[str, object]) -> bool:
    marker = target / CONVERSION_MARKER
    try:
        return bool(json.loads(marker.read_text()) == fingerprint)
    except (OSError, ValueError):
        return False


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.") or "model"
