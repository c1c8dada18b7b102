"""Built-in trainers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reasonloop import hookimpl


def trl_sft(options: dict[str, Any]) -> Any:
    """TRL's SFTTrainer, full fine-tune or LoRA."""
    from reasonloop.trainers.trl_sft import TrlSftTrainer

    return TrlSftTrainer(options)


def command(options: dict[str, Any]) -> Any:
    """Any external trainer command, given the data and output paths."""
    from reasonloop.trainers.command import CommandTrainer

    return CommandTrainer(options)


def none(options: dict[str, Any]) -> Any:
    """No training: the run produces data only."""
    from reasonloop.trainers.none import NoneTrainer

    return NoneTrainer(options)


@hookimpl
def reasonloop_register_trainers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("trl-sft", trl_sft)
    register("command", command)
    register("none", none)
