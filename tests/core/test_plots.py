"""Report figures are written whole, without a display."""

from __future__ import annotations

from pathlib import Path

from reasonloop.core.plots import pyplot, save_figure


def test_save_figure_writes_a_png_atomically(tmp_path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = save_figure(fig, tmp_path / "a.png", dpi=50)
    assert path.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]  # no temporary file left
    assert not plt.get_fignums()  # closed
