"""The trainer protocol, where trainer authors look for it.

It lives in the core (:mod:`reasonloop.core.protocols`); this module
re-exports it, so ``from reasonloop.trainers.base import TrainResult``
keeps working.
"""

from __future__ import annotations

from reasonloop.core.protocols import Trainer, TrainerFactory, TrainProgress, TrainResult

__all__ = ["TrainProgress", "TrainResult", "Trainer", "TrainerFactory"]
