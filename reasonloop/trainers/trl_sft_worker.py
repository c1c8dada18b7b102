"""One process of a multi-process ``trl-sft`` run, started by ``accelerate launch``.

:func:`reasonloop.trainers.trl_sft_launch.launch_command` starts this module
in every process. Each one trains; the main one reports progress on stdout
and writes ``result.json``, which the launching trainer reads back.

    python -m reasonloop.trainers.trl_sft_worker --data D --base M --output O --options JSON
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from pathlib import Path

from reasonloop.trainers.trl_sft import TrlSftTrainer
from reasonloop.trainers.trl_sft_launch import PROGRESS

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Train this process's share; the main process also writes ``result.json``."""
    parser = argparse.ArgumentParser(description="One process of a multi-process trl-sft run.")
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

    trainer = TrlSftTrainer(json.loads(args.options))
    result = trainer.train(args.data, args.base, args.output, on_progress=report)
    if main_process:
        path = args.output / "result.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(result.model_dump_json())
        tmp.replace(path)


if __name__ == "__main__":
    main()
