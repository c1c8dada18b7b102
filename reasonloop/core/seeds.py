"""Seed groups: one recipe run once per seed, and the summary pooled over the seeds.

A group directory holds one ordinary run directory per seed and the
group's own files::

    runs/<name>/
      seeds.json        the seeds, the recipe, which seeds finished, the summary
      seeds.md          the summary as a table
      seed-0/           a run directory (state.json, base/, iter-000/, report.md)
      seed-1/
      ...

Each ``seed-<s>/`` is the recipe with ``seed: s``, so ``resume``,
``report``, ``eval`` and ``compare`` take it like any run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from reasonloop.core.pairing import format_accuracy, load_answers, problem_mismatch
from reasonloop.core.recipe import Recipe, recipe_from_dict
from reasonloop.core.rundir import atomic_write_json, atomic_write_text
from reasonloop.core.seed_statistics import PooledEstimate, pooled_estimate
from reasonloop.errors import UsageError

__all__ = ["GROUP_FILE", "SeedGroup", "is_seed_group", "parse_seeds"]

#: The file that makes a directory a seed group.
GROUP_FILE = "seeds.json"


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` as ``[0, 1, 2]``; a clear error for anything else."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2"
        ) from None
    return check_seeds(seeds, "--seeds")


def check_seeds(seeds: list[int], where: str) -> list[int]:
    """``seeds`` if it names at least one seed, each once."""
    if not seeds:
        raise UsageError(f"{where}: name at least one seed")
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise UsageError(f"{where}: seed {repeated[0]} is given twice")
    return seeds


def is_seed_group(path: Path) -> bool:
    """Whether ``path`` is a seed group's directory (it has ``seeds.json``)."""
    return (Path(path) / GROUP_FILE).is_file()


class SeedGroup:
    """A seed group's directory: which seeds to run, which finished, and their summary."""

    def __init__(self, root: Path, data: dict[str, Any]):
        self.root = Path(root)
        self._data = data

    @classmethod
    def create(cls, root: Path, recipe: Recipe, seeds: list[int]) -> SeedGroup:
        """Start a group for ``recipe`` in ``root``, one run per seed (none run yet)."""
        seeds = check_seeds(list(seeds), "seeds")
        data = recipe.model_dump(mode="json")
        data["seeds"] = seeds
        group = cls(root, {"seeds": seeds, "recipe": data, "finished": []})
        group._save()
        return group

    @classmethod
    def open(cls, root: Path) -> SeedGroup:
        """The group in ``root``, as ``create`` (and the runs since) left it."""
        path = Path(root) / GROUP_FILE
        if not path.is_file():
            raise UsageError(f"{root}: not a seed group (no {GROUP_FILE})")
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "seeds" not in data or "recipe" not in data:
            raise UsageError(f"{path}: not a seed group's file (no seeds or recipe)")
        return cls(root, data)

    @property
    def seeds(self) -> list[int]:
        return list(self._data["seeds"])

    @property
    def finished(self) -> list[int]:
        """The seeds whose run completed, in the order of :attr:`seeds`."""
        done = set(self._data.get("finished", []))
        return [s for s in self.seeds if s in done]

    def run_dir(self, seed: int) -> Path:
        """Seed ``seed``'s run directory."""
        return self.root / f"seed-{seed}"

    def seed_recipe(self, seed: int) -> Recipe:
        """The group's recipe for one seed: ``seed: s``, writing to that seed's directory."""
        data = json.loads(json.dumps(self._data["recipe"]))
        data["seed"] = seed
        data["seeds"] = None
        data["run_dir"] = str(self.run_dir(seed))
        tracking = data.get("tracking") or {}
        if tracking.get("backends"):
            # One tracker run per seed, named apart.
            tracking["run_name"] = f"{tracking.get('run_name') or self.root.name}-seed{seed}"
        return recipe_from_dict(data, str(self.root / GROUP_FILE))

    def pending(self) -> list[int]:
        """The seeds still to run or to finish, in order."""
        done = set(self.finished)
        return [s for s in self.seeds if s not in done]

    def started(self, seed: int) -> bool:
        """Whether seed ``seed``'s run began (so it continues as ``resume`` would)."""
        return (self.run_dir(seed) / "recipe.yaml").exists()

    def mark_finished(self, seed: int) -> None:
        """Record that seed ``seed``'s run completed, and refresh the summary."""
        if seed not in self._data["finished"]:
            self._data["finished"].append(seed)
        self.write_summary()

    # -- the summary -------------------------------------------------------------

    def stage_table(
        self, stage: str, seeds: list[int] | None = None
    ) -> tuple[list[str], np.ndarray]:
        """Problem ids and the seeds x problems table of correctness at ``stage``.

        Refuses seeds evaluated on different problems, naming the seeds and how.
        """
        seeds = self.finished if seeds is None else seeds
        maps = {}
        for s in seeds:
            answers = load_answers(self.run_dir(s) / stage / "eval.json")
            if answers is None:
                raise UsageError(f"{self.run_dir(s)}/{stage}/eval.json: no per-problem answers")
            maps[s] = answers
        first = seeds[0]
        ids = sorted(maps[first])
        for s in seeds[1:]:
            differ = problem_mismatch(ids, maps[s], f"seed {first}", f"seed {s}")
            if differ:
                raise UsageError(
                    f"{self.root}: seed {s} was evaluated on different problems from seed "
                    f"{first} at {stage} ({differ})"
                )
        return ids, np.array([[float(maps[s][i]) for i in ids] for s in seeds])

    def evaluated_stages(self) -> list[str]:
        """Stages with an ``eval.json`` in every finished seed, base first."""
        finished = self.finished
        if not finished:
            return []

        def stages(s: int) -> list[str]:
            d = self.run_dir(s)
            return sorted(p.parent.name for p in d.glob("*/eval.json") if p.parent.name != "eval")

        common = set(stages(finished[0]))
        for s in finished[1:]:
            common &= set(stages(s))
        return sorted(common, key=lambda n: (n != "base", n))

    def summary(self) -> dict[str, Any]:
        """``seeds.json``'s summary: per stage the pooled estimate, and first vs last stage."""
        stages = self.evaluated_stages()
        out: dict[str, Any] = {"finished": self.finished, "stages": [], "difference": None}
        tables = {name: self.stage_table(name) for name in stages}
        for name, (_, y) in tables.items():
            out["stages"].append({"stage": name, **_estimate_json(pooled_estimate(y))})
        if len(stages) >= 2:
            first, last = stages[0], stages[-1]
            diff = tables[last][1] - tables[first][1]
            est = pooled_estimate(diff, bounds=(-1.0, 1.0))
            out["difference"] = {"from": first, "to": last, **_estimate_json(est)}
        return out

    def write_summary(self) -> dict[str, Any]:
        """Write ``seeds.json`` (plan and summary) and ``seeds.md``; return the summary."""
        summary = self.summary()
        self._data.update(summary)
        self._save()
        atomic_write_text(self.root / "seeds.md", self.markdown(summary))
        return summary

    def markdown(self, summary: dict[str, Any]) -> str:
        """``seeds.md``: the pooled table, a row per stage, and the first-vs-last difference."""
        seeds = ", ".join(str(s) for s in summary["finished"]) or "none yet"
        lines = [
            f"# Seed group {self.root.name}",
            "",
            f"Seeds finished: {seeds} of {', '.join(str(s) for s in self.seeds)}. "
            "Mean over seeds; spread of the per-seed accuracies; the pooled 95% interval "
            "covers new seeds and new problems, the problems-only one these seeds on new "
            "problems (see docs/statistics.md).",
            "",
            "| stage | seeds | problems | mean [pooled 95%] | std | min - max "
            "| problems-only 95% | per seed |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for st in summary["stages"]:
            lo, hi = st["problems_interval"]
            per_seed = ", ".join(f"{100 * v:.1f}" for v in st["per_seed"])
            lines.append(
                f"| {st['stage']} | {st['seeds']} | {st['problems']} | "
                f"{format_accuracy(st['mean'], st['interval'])} | {100 * st['std']:.1f} | "
                f"{100 * st['min']:.1f} - {100 * st['max']:.1f} | "
                f"[{100 * lo:.1f}, {100 * hi:.1f}] | {per_seed} |"
            )
        d = summary.get("difference")
        if d:
            lo, hi = d["interval"]
            plo, phi = d["problems_interval"]
            verdict = (
                "distinguishable from noise"
                if d["distinguishable"]
                else ("not distinguishable from noise (the interval spans 0)")
            )
            lines += [
                "",
                f"{d['to']} - {d['from']}, paired on the same problems in each seed: "
                f"{100 * d['mean']:+.1f} points [{100 * lo:+.1f}, {100 * hi:+.1f}] pooled over "
                f"seeds and problems (problems only: [{100 * plo:+.1f}, {100 * phi:+.1f}]); "
                f"per seed {', '.join(f'{100 * v:+.1f}' for v in d['per_seed'])}: "
                f"**{verdict}**.",
            ]
        return "\n".join(lines) + "\n"

    def _save(self) -> None:
        atomic_write_json(self.root / GROUP_FILE, self._data)


def _estimate_json(est: PooledEstimate) -> dict[str, Any]:
    data = est.model_dump(mode="json")
    data["interval"] = list(est.interval)
    data["problems_interval"] = list(est.problems_interval)
    return data
