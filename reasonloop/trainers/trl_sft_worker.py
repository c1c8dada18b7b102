"""One process of a multi-process TRL run (``trl-sft``, ``trl-dpo``, ``trl-kto``).

:func:`reasonloop.trainers.trl_sft_launch.launch_command` starts this module
in every process. Each one trains; the main one reports progress on stdout
and writes ``result.json``, which the launching trainer reads back.

    python -m reasonloop.trainers.trl_sft_worker --trainer trl-sft --data D --base M \
        --output O --options JSON

``--data`` is the file the trainer reads (for ``trl-dpo``, the preference
pairs; for ``trl-kto``, its unpaired or paired rows).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import threading
from pathlib import Path

from reasonloop.trainers.trl_sft_launch import PROGRESS

__all__ = ["main"]

_TRAINERS = {
    "trl-sft": ("reasonloop.trainers.trl_sft", "TrlSftTrainer"),
    "trl-dpo": ("reasonloop.trainers.trl_dpo", "TrlDpoTrainer"),
    "trl-kto": ("reasonloop.trainers.trl_kto", "TrlKtoTrainer"),
}


def main(argv: list[str] | None = None) -> None:
    """Train this process's share; the main process also writes ``result.json``."""
    parser = argparse.ArgumentParser(description="One process of a multi-process TRL run.")
    parser.add_argument("--trainer", default="trl-sft", choices=sorted(_TRAINERS))
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--options", required=True, help="trainer options as JSON")
    args = parser.parse_args(argv)

    main_process = int(os.environ.get("RANK", "0")) == 0
    lock = threading.Lock()

    def report(step: int, total: int) -> None:
        if main_process:
            with lock:
                print(f"{PROGRESS} {step} {total}", flush=True)

    module, cls = _TRAINERS[args.trainer]
    trainer = getattr(importlib.import_module(module), cls)(json.loads(args.options))
    result = trainer.train(args.data, args.base, args.output, on_progress=report)
    if main_process:
        path = args.output / "result.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(result.model_dump_json())
        tmp.replace(path)


if __name__ == "__main__":
    main()
