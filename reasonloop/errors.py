"""Errors raised by reasonloop and the exit codes the CLI maps them to."""

from __future__ import annotations

import enum

__all__ = [
    "BackendError",
    "ExitCode",
    "PluginError",
    "PluginHookError",
    "ReasonloopError",
    "RecipeError",
    "UsageError",
]


class ExitCode(enum.IntEnum):
    """Exit codes of the ``reasonloop`` command."""

    OK = 0
    #: The run failed (a stage raised, a server died after its retries).
    RUN_FAILED = 1
    #: The user's input was wrong: a broken recipe, a missing file, a bad flag.
    USAGE_ERROR = 2
    #: The run was interrupted (Ctrl-C); ``reasonloop resume`` continues it.
    INTERRUPTED = 3
    #: A plugin failed to import or register, or raised inside one of its hooks.
    PLUGIN_ERROR = 4


class ReasonloopError(Exception):
    """Base class of every error reasonloop raises on purpose."""

    exit_code: ExitCode = ExitCode.RUN_FAILED


class UsageError(ReasonloopError):
    """A problem the user can fix; the CLI prints it without a traceback."""

    exit_code = ExitCode.USAGE_ERROR


class RecipeError(UsageError):
    """A recipe that does not load or validate; the message names file and key."""


class BackendError(ReasonloopError):
    """A generation backend failed in a way retries could not fix."""


class PluginError(ReasonloopError):
    """A plugin failed to import, register or behave as its hooks promise."""

    exit_code = ExitCode.PLUGIN_ERROR


class PluginHookError(PluginError):
    """A plugin raised inside one of its hooks; names the plugin and the hook.

    The plugin's own exception is the ``__cause__`` (its traceback goes to
    ``run.log``); ``hint`` says how to continue once the plugin is fixed.
    """

    def __init__(self, plugin: str, hook: str, cause: BaseException, hint: str = ""):
        self.plugin = plugin
        self.hook = hook
        self.cause = cause
        self.hint = hint
        detail = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        message = f"plugin {plugin!r} failed in its hook {hook}: {detail}"
        super().__init__(f"{message}\n{hint}" if hint else message)
