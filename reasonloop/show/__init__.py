"""``reasonloop show``: a run as one self-contained HTML page to browse its samples.

The page holds the run's summary with its intervals and plots, and every
problem with its samples, verdicts, extracted answers, tokens and lineage
(plain -> critique -> revision, hint -> guided answer, program -> debugging
turn -> fixed program), with filters and search. It opens from disk with no
server and no network.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from reasonloop.show.data import page_data
from reasonloop.show.page import render_page

__all__ = ["page_data", "render_page", "write_page"]


def write_page(run_dir: Path, output: Path | None = None) -> Path:
    """Write the page of the run in ``run_dir`` (default ``RUN_DIR/show.html``); return its path."""
    target = output or run_dir / "show.html"
    page = render_page(page_data(run_dir))
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written beside the target and renamed: a browser never opens half a page.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(page)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target
