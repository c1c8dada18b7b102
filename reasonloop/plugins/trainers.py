"""Built-in trainers (classes that take the recipe's ``trainer.options``) and online rewards."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reasonloop import hookimpl
from reasonloop.trainers.command import CommandTrainer
from reasonloop.trainers.none import NoneTrainer
from reasonloop.trainers.rewards import REWARDS, each_rollout
from reasonloop.trainers.trl_dpo import TrlDpoTrainer
from reasonloop.trainers.trl_grpo import TrlGrpoTrainer
from reasonloop.trainers.trl_kto import TrlKtoTrainer
from reasonloop.trainers.trl_sft import TrlSftTrainer


@hookimpl
def reasonloop_register_trainers(register: Callable[[str, Callable[..., Any]], None]) -> None:
    register("trl-sft", TrlSftTrainer)
    register("trl-grpo", TrlGrpoTrainer)
    register("trl-dpo", TrlDpoTrainer)
    register("trl-kto", TrlKtoTrainer)
    register("command", CommandTrainer)
    register("none", NoneTrainer)


@hookimpl
def reasonloop_register_rewards(register: Callable[[str, Callable[..., Any]], None]) -> None:
    for name, reward in REWARDS.items():
        register(name, each_rollout(reward))
