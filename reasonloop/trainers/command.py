"""Train with any external program: a script, another framework, a cluster job.

The command receives the data file, the base model and the output directory
through placeholders, and must leave a checkpoint at ``model_path``.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import time
from collections import deque
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.protocols import Trainer, TrainProgress, TrainResult
from reasonloop.errors import ReasonloopError, UsageError

__all__ = ["CommandTrainer", "CommandTrainerOptions"]

#: The log file, under ``output_dir``, that receives the command's output.
LOG_NAME = "train_command.log"
_TAIL_LINES = 20


class CommandTrainerOptions(BaseModel):
    """The recipe's ``trainer.options`` for ``command``; unknown keys are errors.

    ``{data}``, ``{base_model}`` and ``{output_dir}`` are replaced in the
    command, ``model_path``, ``adapter_path`` and ``env`` values; other braces
    are left alone. In a shell string the values are shell-quoted. The
    command's environment has ``REASONLOOP_DATA_ORDERED=1`` when a plugin put
    the rows in the order they must be learnt (the command must not shuffle
    them), else ``0``, and ``REASONLOOP_SEED``, the recipe's ``seed``, for the
    command to seed its training with.
    """

    model_config = ConfigDict(extra="forbid")

    #: An argv list (run directly) or a string (run by the shell).
    command: list[str] | str = Field(min_length=1)
    #: Where the command leaves its checkpoint; it must exist afterwards.
    model_path: str = "{output_dir}/model"
    #: Where the command leaves a LoRA adapter, if it trains one.
    adapter_path: str | None = None
    #: Added to the environment the command inherits.
    env: dict[str, str] = Field(default_factory=dict)
    #: Seconds before the command (and its children) are killed; ``None``: no limit.
    timeout: float | None = Field(default=None, gt=0)


class CommandTrainer(Trainer):
    """Runs a training command as a subprocess and returns the model it wrote."""

    changes_model = True
    #: The command is told through ``REASONLOOP_DATA_ORDERED`` to keep the order.
    accepts_order = True
    #: The recipe's seed reaches the command as ``REASONLOOP_SEED``.
    takes_seed = True

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = CommandTrainerOptions.model_validate(options or {})

    @property
    def trains_adapter(self) -> bool:
        """The command leaves a LoRA adapter (``adapter_path``).

        Generation engines that serve adapters then stay up while it runs, and
        on such an engine (vLLM) the next iteration runs the adapter, which is
        also what ``{base_model}`` names in that iteration's command.
        """
        return self.options.adapter_path is not None

    def train(
        self,
        data_path: Path,
        base_model: str,
        output_dir: Path,
        on_progress: TrainProgress | None = None,
        *,
        ordered: bool = False,
        seed: int | None = None,
    ) -> TrainResult:
        opts = self.options
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        values = {"data": str(data_path), "base_model": base_model, "output_dir": str(output_dir)}
        if isinstance(opts.command, str):
            command: list[str] | str = _substitute(opts.command, values, quote=True)
        else:
            command = [_substitute(arg, values) for arg in opts.command]
        # Unbuffered Python output, so the log shows progress as it happens.
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env["REASONLOOP_DATA_ORDERED"] = "1" if ordered else "0"
        if seed is not None:
            env["REASONLOOP_SEED"] = str(seed)
        env.update({k: _substitute(v, values) for k, v in opts.env.items()})
        log_path = output_dir / LOG_NAME

        if on_progress is not None:
            on_progress(0, 1)
        start = time.perf_counter()
        returncode = _run(command, env, log_path, opts.timeout)
        seconds = time.perf_counter() - start
        if returncode != 0:
            raise ReasonloopError(
                f"training command failed with exit code {returncode}: {_display(command)}\n"
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        model_path = Path(_substitute(opts.model_path, values))
        if not model_path.exists():
            raise ReasonloopError(
                f"training command succeeded but wrote no model at {model_path} "
                f"(set trainer.options.model_path to where it saves); "
                f"last lines of {log_path}:\n{_tail(log_path)}"
            )
        adapter_path = _substitute(opts.adapter_path, values) if opts.adapter_path else None
        if on_progress is not None:
            on_progress(1, 1)
        return TrainResult(
            model_path=str(model_path),
            adapter_path=adapter_path,
            metrics={"seconds": round(seconds, 2), "log": str(log_path)},
        )


def _substitute(template: str, values: dict[str, str], quote: bool = False) -> str:
    # Plain replacement rather than str.format: commands often hold braces
    # of their own (shell, Python, JSON).
    for key, value in values.items():
        template = template.replace("{" + key + "}", shlex.quote(value) if quote else value)
    return template


def _display(command: list[str] | str) -> str:
    return command if isinstance(command, str) else shlex.join(command)


def _run(
    command: list[str] | str, env: dict[str, str], log_path: Path, timeout: float | None
) -> int:
    with log_path.open("wb") as log:
        try:
            # A session of its own, so a timeout kills the command's children too.
            proc = subprocess.Popen(
                command,
                shell=isinstance(command, str),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise UsageError(f"cannot run training command {_display(command)}: {exc}") from exc
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise ReasonloopError(
                f"training command timed out after {timeout:g} s: {_display(command)}\n"
                f"last lines of {log_path}:\n{_tail(log_path)}"
            ) from None
        except BaseException:
            _kill_group(proc)  # e.g. Ctrl-C: leave no orphan training
            raise


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # it ended on its own meanwhile
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _tail(log_path: Path) -> str:
    try:
        with log_path.open(encoding="utf-8", errors="replace") as f:
            lines = deque(f, maxlen=_TAIL_LINES)
    except OSError:
        return "(no output)"
    return "".join(lines).rstrip() or "(no output)"
