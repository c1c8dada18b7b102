"""Self-debugging's settings and its per-run state: the execution pool and parsed tests."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reasonloop.core.context import TrajectoryForm
from reasonloop.plugins.selfdebug.prompts import entry_point_of, parse_tests

if TYPE_CHECKING:
    from reasonloop.core.context import RoundContext
    from reasonloop.core.records import Problem, Sample
    from reasonloop.execution import CodeExecutionPool, ExecutionResult, Job

__all__ = ["NAME", "SelfDebugSettings", "SelfDebugState", "is_tests", "rounds_needed"]

NAME = "selfdebug"


class SelfDebugSettings(BaseModel):
    """``plugins.settings.selfdebug``: every key is optional."""

    model_config = ConfigDict(extra="forbid")

    #: ``post``: feedback from running the tests; ``in``: an execution trace.
    mode: Literal["post", "in"] = "post"
    #: Post-execution feedback: ``label`` (which tests failed) or ``detail``
    #: (input, expected, actual output or exception).
    feedback: Literal["label", "detail"] = "detail"
    #: Post-execution: ``one`` failing test in the feedback, drawn at random
    #: (the paper's feedback), or ``all`` of them.
    feedback_tests: Literal["one", "all"] = "one"
    #: In-execution: which programs are traced. ``all``: every program, on the
    #: input of one self-written test drawn at random, so no expected output
    #: decides what is debugged; ``failing``: only programs that fail a
    #: self-written test, on the input of one failing test (LDB's gate).
    trace: Literal["all", "failing"] = "all"
    #: In-execution: a reply that judges every block of the trace correct
    #: ``keep``s the program (no revision); ``revise`` asks for a fix anyway.
    all_correct: Literal["keep", "revise"] = "keep"
    #: Asserts the model writes per problem.
    tests: int = Field(default=5, ge=1, le=50)
    #: The most revisions of one program (needs ``max_rounds`` >= rounds + 1,
    #: or 2 * rounds + 1 in-execution: a round for the verdicts, one for the fix).
    rounds: int = Field(default=2, ge=1, le=20)
    #: Where it runs: at training time (``train``), at test time (``eval``).
    stages: list[Literal["train", "eval"]] = Field(default_factory=lambda: ["train", "eval"])
    #: Training examples from a passing revision: ``plain`` (the problem ->
    #: the revised program), ``chain`` (the debugging exchange, the failed
    #: attempt's loss masked, then the revision) or ``both``.
    trajectories: TrajectoryForm = "plain"
    tests_max_tokens: int = Field(default=256, ge=8)
    #: Token limit of a revision; ``None``: the role's (or eval's) limit.
    debug_max_tokens: int | None = Field(default=None, ge=8)
    #: Seconds per program run on the self-generated tests.
    timeout: float = Field(default=2.0, gt=0)
    #: Blocks of a trace kept at its start and at its end.
    trace_blocks: int = Field(default=4, ge=1)
    #: Worker processes of the plugin's execution pool (default: one per core).
    workers: int | None = Field(default=None, ge=1)


def rounds_needed(settings: SelfDebugSettings) -> int:
    """Scheduler rounds for ``rounds`` revisions: round 0, then one or two per revision."""
    return 1 + settings.rounds * (2 if settings.mode == "in" else 1)


class SelfDebugState:
    """The run's settings and execution pool (registered in the run's plugin manager)."""

    def __init__(self, settings: SelfDebugSettings):
        self.settings = settings
        self._pool: CodeExecutionPool | None = None
        self._tests: dict[str, list[str]] = {}

    @property
    def pool(self) -> CodeExecutionPool:
        if self._pool is None:
            from reasonloop.execution import CodeExecutionPool, ExecutionLimits

            limits = ExecutionLimits(timeout=self.settings.timeout)
            self._pool = CodeExecutionPool(self.settings.workers, limits)
        return self._pool

    def run_jobs(self, jobs: list[Job]) -> list[ExecutionResult]:
        return self.pool.run_many(jobs) if jobs else []

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def params(self, ctx: RoundContext, max_tokens: int | None) -> dict[str, Any]:
        """Sampling parameters of one of the plugin's requests (eval's in evaluation)."""
        params: dict[str, Any] = {"n": 1}
        if ctx.mode == "eval":
            params["temperature"] = ctx.recipe.eval.temperature
            max_tokens = max_tokens or ctx.recipe.eval.max_tokens
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        return params

    def tests_for(self, problem: Problem, samples: list[Sample]) -> list[str]:
        """The parsed self-generated tests of ``problem`` (from its ``tests`` sample)."""
        written = next((s for s in samples if is_tests(s)), None)
        entry = entry_point_of(problem.prompt, problem.metadata)
        if written is None or entry is None:
            return []
        if written.id not in self._tests:
            self._tests[written.id] = parse_tests(written.completion, entry, self.settings.tests)
        return self._tests[written.id]


def is_tests(s: Sample) -> bool:
    """The sample in which the model wrote its own tests for a problem."""
    return s.request.plugin == NAME and s.request.purpose == "tests"
