"""The sampling stage: rounds of plugin requests, batched per role.

Round after round, every plugin says which requests it wants
(``reasonloop_round_requests``). The scheduler groups a round's requests by
role and sends each group to that role's backend in chunks, verifies each
chunk's samples and appends them to the stage's ``samples.jsonl`` before the
next chunk starts. A request whose samples are already on disk (a resumed
run) is not sent again.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from reasonloop.core.context import IterationContext, RoundContext
from reasonloop.core.plugins import build_checked
from reasonloop.core.progress import StageTask
from reasonloop.core.protocols import capability
from reasonloop.core.records import Request, Sample, Verdict, stable_id
from reasonloop.core.rundir import JsonlLog
from reasonloop.errors import PluginError, UsageError

__all__ = ["BackendPool", "RoundScheduler", "completion_samples"]


class BackendPool:
    """One backend per (backend, model, options); roles on the same model share it."""

    def __init__(self, run: Any):
        self.run = run
        self._live: dict[str, Any] = {}

    def _key(self, role: str, model: str) -> str:
        cfg = self.run.role_config(role)
        return json.dumps([cfg.backend, model, cfg.backend_options], sort_keys=True, default=str)

    def get(self, role: str, model: str) -> Any:
        key = self._key(role, model)
        if key not in self._live:
            cfg = self.run.role_config(role)
            factory = self.run.backends.get(cfg.backend)
            options = {**cfg.backend_options, "defaults": cfg.sampling}
            self.run.progress.event(f"loading {cfg.backend} backend for {role}: {model}")
            self._live[key] = build_checked(
                factory,
                f"roles.{role}.backend_options",
                model,
                options,
                source=self.run.recipe.source,
            )
        return self._live[key]

    def close_all(self) -> None:
        for backend in self._live.values():
            backend.close()
        self._live.clear()

    def release_for_training(self, adapter: bool) -> list[str]:
        """Free generation memory before training; return the roles' keys kept.

        A full fine-tune replaces the model, so every backend is closed. When
        the trainer trains a LoRA adapter, backends that serve adapters on
        their loaded base model (``serves_adapters``) stay up: the next
        iteration's adapter runs on them without reloading.
        """
        kept = {}
        for key, backend in self._live.items():
            if adapter and capability(backend, "serves_adapters"):
                kept[key] = backend
            else:
                backend.close()
        self._live = kept
        return list(kept)


class RoundScheduler:
    """Runs the sampling rounds of one stage and returns every sample."""

    def __init__(self, stage: IterationContext, backends: BackendPool, verifier: Any):
        self.stage = stage
        self.run = stage.run
        self.backends = backends
        self.verifier = verifier
        self.problems = {p.id: p for p in stage.problems}
        self.chunk_size = self.run.recipe.sampling.chunk_size

    def run_rounds(self, log: JsonlLog[Sample], max_rounds: int, task: StageTask) -> list[Sample]:
        log.repair()
        on_disk = self._complete_requests(log)
        samples: list[Sample] = []
        new: list[Sample] = []
        eval_mode = self.stage.mode == "eval"
        views = [p.without_reference() if eval_mode else p for p in self.stage.problems]
        for round_no in range(max_rounds):
            ctx = RoundContext(
                stage=self.stage,
                round=round_no,
                problems=views,
                samples=[s.redacted() for s in samples] if eval_mode else samples,
                new_samples=[s.redacted() for s in new] if eval_mode else new,
            )
            requests = self.run.hooks.round_requests(ctx)
            if not requests:
                break
            new = self._answer(requests, log, task, on_disk)
            samples.extend(new)
        return samples

    def send(self, requests: list[Request], log: JsonlLog[Sample], task: StageTask) -> list[Sample]:
        """Answer requests made outside the rounds (:meth:`IterationContext.generate`).

        Batched per role like a round's; requests already answered in ``log``
        (a resumed run) are not sent again. Returns the samples in request order.
        """
        log.repair()
        return self._answer(requests, log, task, self._complete_requests(log))

    def _answer(
        self,
        requests: list[Request],
        log: JsonlLog[Sample],
        task: StageTask,
        on_disk: dict[str, list[Sample]],
    ) -> list[Sample]:
        self._check(requests)
        todo = [r for r in requests if r.id not in on_disk]
        reused = [s for r in requests if r.id in on_disk for s in on_disk[r.id]]
        task.set_total(task.total + sum(r.sampling.n for r in requests))
        task.advance(len(reused), tokens=sum(s.completion_tokens for s in reused))
        fresh = self._generate(todo, log, task)
        by_request = defaultdict(list)
        for s in reused + fresh:
            by_request[s.request.id].append(s)
        return [s for r in requests for s in sorted(by_request[r.id], key=lambda s: s.index)]

    def _complete_requests(self, log: JsonlLog[Sample]) -> dict[str, list[Sample]]:
        """Samples on disk by request id, keeping only requests with all ``n``."""
        grouped: dict[str, list[Sample]] = defaultdict(list)
        for s in log:
            grouped[s.request.id].append(s)
        complete = {
            rid: group
            for rid, group in grouped.items()
            if len(group) >= group[0].request.sampling.n
        }
        if len(complete) != len(grouped):
            log.rewrite(s for group in complete.values() for s in group)
        return complete

    def _check(self, requests: list[Request]) -> list[Request]:
        seen: set[str] = set()
        for r in requests:
            try:
                self.run.role_config(r.role)
            except UsageError as exc:
                raise UsageError(f"plugin {r.plugin!r} asked role {r.role!r}: {exc}") from None
            if r.problem_id not in self.problems:
                raise PluginError(f"plugin {r.plugin!r} asked about unknown problem {r.problem_id}")
            if r.id in seen:
                raise PluginError(f"plugin {r.plugin!r} made two requests with id {r.id}")
            seen.add(r.id)
        return requests

    def _generate(
        self, requests: list[Request], log: JsonlLog[Sample], task: StageTask
    ) -> list[Sample]:
        by_role: dict[str, list[Request]] = defaultdict(list)
        for r in requests:
            by_role[r.role].append(r)
        out: list[Sample] = []
        for role, group in by_role.items():
            model = self.stage.models.get(role) or self.run.role_config(role).model
            backend = self.backends.get(role, model)
            for start in range(0, len(group), self.chunk_size):
                chunk = group[start : start + self.chunk_size]
                out.extend(self._generate_chunk(backend, chunk, log, task))
        return out

    def _generate_chunk(
        self, backend: Any, chunk: Sequence[Request], log: JsonlLog[Sample], task: StageTask
    ) -> list[Sample]:
        began = time.monotonic()
        results = backend.generate(chunk, on_progress=lambda n, tok: task.advance(n, tok))
        samples = completion_samples(
            chunk,
            results,
            time.monotonic() - began,
            iteration=self.stage.iteration if self.stage.iteration is not None else -1,
            mode=self.stage.mode,
        )
        self._verify(samples)
        log.append(samples)
        return samples

    def _verify(self, samples: list[Sample]) -> None:
        judged = [s for s in samples if s.request.answers_problem]
        if not judged:
            return
        results = self.verifier.verify([(self.problems[s.problem_id], s.text) for s in judged])
        for s, res in zip(judged, results, strict=True):
            s.verdict = Verdict(res.verdict)
            s.extracted = res.extracted
            s.evidence = res.evidence


def completion_samples(
    requests: Sequence[Request],
    results: Sequence[Sequence[Any]],
    seconds: float,
    *,
    iteration: int,
    mode: str,
) -> list[Sample]:
    """A backend's completions for ``requests`` as samples, ``seconds`` shared by tokens.

    ``results`` holds one list of completions per request, as
    ``Backend.generate`` returns them; a backend that returns another number
    of lists is a :class:`PluginError`.
    """
    if len(results) != len(requests):
        raise PluginError(f"backend returned {len(results)} results for {len(requests)} requests")
    weight = sum(c.completion_tokens + 1 for cs in results for c in cs) or 1
    return [
        Sample(
            id=stable_id(r.id, i),
            problem_id=r.problem_id,
            request=r,
            index=i,
            completion=c.text,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            cached_tokens=c.cached_tokens,
            finish_reason=c.finish_reason,
            seconds=seconds * (c.completion_tokens + 1) / weight,
            iteration=iteration,
            mode=mode,
        )
        for r, completions in zip(requests, results, strict=True)
        for i, c in enumerate(completions)
    ]
