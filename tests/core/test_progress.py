"""Progress bars: rate and ETA stay sensible when a batch lands at once."""

from __future__ import annotations

from rich.progress import Progress

from reasonloop.core.progress import EtaColumn, RateColumn


def test_rate_and_eta_are_averages_since_the_start() -> None:
    now = [0.0]
    progress = Progress(RateColumn(), EtaColumn(), get_time=lambda: now[0])
    task_id = progress.add_task("sample", total=100, unit="samples", tokens=0)
    now[0] = 10.0
    # A batched backend returns 50 samples in one go after 10 s.
    progress.update(task_id, advance=50, tokens=2000)
    task = progress.tasks[0]
    assert str(RateColumn().render(task)) == "5.0 samples/s · 200 tok/s"
    assert str(EtaColumn().render(task)) == "0:00:10"

    now[0] = 20.0
    progress.update(task_id, advance=50, tokens=4000)
    assert str(EtaColumn().render(progress.tasks[0])) == "0:00:00"


def test_nothing_done_yet_shows_no_rate() -> None:
    progress = Progress(RateColumn(), EtaColumn(), get_time=lambda: 0.0)
    task_id = progress.add_task("train", total=0, unit="steps", tokens=0)
    task = progress.tasks[task_id]
    assert str(RateColumn().render(task)) == "-"
    assert str(EtaColumn().render(task)) == "-:--:--"
