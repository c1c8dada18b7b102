"""Multi-process TRL training (``trl-sft``, ``trl-dpo``, ``trl-kto``) through ``accelerate launch``.

When a recipe asks for more than one process (``trainer.options.num_processes``)
or names an accelerate, DeepSpeed or FSDP config file
(``trainer.options.accelerate_config``), the trainer runs this module under
``accelerate launch`` as a subprocess, so multi-GPU training uses the engines
users already trust. Every process trains; the main one reports progress on
stdout (``reasonloop-progress STEP TOTAL``) and writes ``result.json``
(:mod:`reasonloop.trainers.trl_sft_worker` is what each process runs).
Without a config file the processes are started with accelerate's
multi-GPU launcher (torchrun); on a machine without GPUs they train on the
CPU with the gloo backend, which is how the tests run it.

"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Any

from reasonloop.core.protocols import TrainProgress, TrainResult
from reasonloop.errors import ReasonloopError

__all__ = ["launch_command", "train_in_processes"]

PROGRESS = "reasonloop-progress"
_LAUNCH_KEYS = ("num_processes", "accelerate_config", "launch_args")


def launch_command(
    options: dict[str, Any],
    data: Path,
    base_model: str,
    output_dir: Path,
    trainer: str = "trl-sft",
) -> list[str]:
    """The ``accelerate launch`` command line for ``trainer`` with these options."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch"]
    config = options.get("accelerate_config")
    if config:
        cmd += ["--config_file", str(config)]
        if options.get("num_processes", 1) > 1:
            cmd += ["--num_processes", str(options["num_processes"])]
    else:
        cmd += [
            "--multi_gpu",
            "--num_processes",
            str(options["num_processes"]),
            "--num_machines",
            "1",
            "--mixed_precision",
            "no",  # the trainer's own dtype option decides
            "--dynamo_backend",
            "no",
            "--main_process_port",
            str(_free_port()),
        ]
    cmd += [str(a) for a in options.get("launch_args", [])]
    inner = {k: v for k, v in options.items() if k not in _LAUNCH_KEYS}
    cmd += [
        "-m",
        "reasonloop.trainers.trl_sft_worker",
        "--trainer",
        trainer,
        "--data",
        str(data),
        "--base",
        base_model,
        "--output",
        str(output_dir),
        "--options",
        json.dumps(inner),
    ]
    return cmd


def train_in_processes(
    options: dict[str, Any],
    data: Path,
    base_model: str,
    output_dir: Path,
    on_progress: TrainProgress | None = None,
    trainer: str = "trl-sft",
) -> TrainResult:
    """Run ``trainer``'s training under ``accelerate launch`` and return its result."""
    output_dir.mkdir(parents=True, exist_ok=True)
    result_path = output_dir / "result.json"
    result_path.unlink(missing_ok=True)
    log_path = output_dir / "train.log"
    cmd = launch_command(options, data, base_model, output_dir, trainer)
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    tail: deque[str] = deque(maxlen=40)
    with log_path.open("w", encoding="utf-8") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        try:
            proc = subprocess.Popen(
                cmd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                env=env,
                start_new_session=True,  # one group: a kill takes every rank
            )
        except OSError as exc:
            raise ReasonloopError(f"cannot start accelerate launch: {exc}") from exc
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                log.write(line)
                tail.append(line)
                if line.startswith(PROGRESS) and on_progress is not None:
                    _, step, total = line.split()
                    on_progress(int(step), int(total))
            code = proc.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
    if code != 0 or not result_path.exists():
        raise ReasonloopError(
            f"multi-process training failed (exit code {code}); log: {log_path}\n"
            + "".join(tail).rstrip()
        )
    return TrainResult.model_validate_json(result_path.read_text())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
