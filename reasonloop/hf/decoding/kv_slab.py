"""A preallocated KV cache whose rows can leave and join between decode steps.

transformers' ``DynamicCache`` concatenates every new token onto the whole
cache (a full copy per layer per step) and dropping a finished row copies all
the others. Here each layer owns one buffer of ``rows x heads x width x dim``:
a decode step writes one column in place, a finished row is replaced by
moving one surviving row into its slot, and new rows are copied in
right-aligned with the running ones (their unused left columns are masked).
"""

from __future__ import annotations

from typing import Any

from reasonloop.hf.models import import_torch

__all__ = ["SlabCache"]


def _slab_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class SlabLayer(DynamicLayer):
        """One layer's keys and values, viewed as ``buffer[:rows, :, :width]``."""

        def __init__(self, keys: Any, values: Any, rows: int, width: int) -> None:
            super().__init__()
            self.k_buf, self.v_buf = keys, values
            self.rows, self.width = rows, width
            self.device = keys.device
            self.is_initialized = True
            self._refresh()

        def _refresh(self) -> None:
            self.keys = self.k_buf[: self.rows, :, : self.width]
            self.values = self.v_buf[: self.rows, :, : self.width]

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> Any:
            new = key_states.shape[-2]
            self.reserve(self.rows, self.width + new)
            end = self.width + new
            self.k_buf[: self.rows, :, self.width : end] = key_states
            self.v_buf[: self.rows, :, self.width : end] = value_states
            self.width = end
            self._refresh()
            return self.keys, self.values

        def reserve(self, rows: int, width: int) -> None:
            r, h, w, d = self.k_buf.shape
            if rows <= r and width <= w:
                return
            # Grow by half again so that a long generation reallocates rarely.
            shape = (max(rows, r), h, max(width, w + w // 2 + 16), d)
            for name in ("k_buf", "v_buf"):
                old = getattr(self, name)
                grown = old.new_zeros(shape)
                grown[: self.rows, :, : self.width] = old[: self.rows, :, : self.width]
                setattr(self, name, grown)

        def move_rows(self, targets: Any, sources: Any, rows: int) -> None:
            for buf in (self.k_buf, self.v_buf):
                buf[targets, :, : self.width] = buf[sources, :, : self.width]
            self.rows = rows
            self._refresh()

        def shift(self, columns: int) -> None:
            """Move every row ``columns`` to the right (positive) or left (negative)."""
            width = self.width + columns
            self.reserve(self.rows, width)
            for buf in (self.k_buf, self.v_buf):
                if columns > 0:
                    buf[: self.rows, :, columns:width] = buf[: self.rows, :, : self.width].clone()
                else:
                    buf[: self.rows, :, :width] = buf[: self.rows, :, -columns : self.width].clone()
            self.width = width
            self._refresh()

        def append_rows(self, keys: Any, values: Any) -> None:
            """Add rows whose states are right-aligned with the running ones."""
            count, length = keys.shape[0], keys.shape[-2]
            rows = self.rows + count
            self.reserve(rows, self.width)
            self.k_buf[self.rows : rows, :, self.width - length : self.width] = keys
            self.v_buf[self.rows : rows, :, self.width - length : self.width] = values
            self.rows = rows
            self._refresh()

    return SlabLayer


class SlabCache:
    """Builds a ``DynamicCache`` whose layers are preallocated slabs.

    The running batch keeps one; ``reserve_rows`` sizes it for the batch size
    so that joining rows never reallocates.
    """

    def __init__(self, model_config: Any, reserve_rows: int) -> None:
        self.config, self.reserve_rows = model_config, reserve_rows
        self.cache: Any = None

    @property
    def width(self) -> int:
        return self.cache.layers[0].width if self.cache is not None else 0

    @property
    def rows(self) -> int:
        return self.cache.layers[0].rows if self.cache is not None else 0

    def start(self, prefilled: Any, index: Any, headroom: int) -> None:
        """Take the rows ``index`` of a prefilled ``DynamicCache`` as the whole batch."""
        from transformers import DynamicCache

        layer_cls = _slab_layer_class()
        cache = DynamicCache(config=self.config)
        layers = []
        for layer in prefilled.layers:
            keys, values = layer.keys[index], layer.values[index]
            b, h, t, d = keys.shape
            shape = (max(b, self.reserve_rows), h, t + headroom, d)
            k_buf, v_buf = keys.new_zeros(shape), values.new_zeros(shape)
            k_buf[:b, :, :t], v_buf[:b, :, :t] = keys, values
            layers.append(layer_cls(k_buf, v_buf, b, t))
        cache.layers = layers
        self.cache = cache

    def join(self, prefilled: Any, index: Any) -> int:
        """Append rows ``index`` of a prefilled cache; return how far old rows moved right."""
        length = prefilled.layers[0].keys.shape[-2]
        moved = max(0, length - self.width)
        for mine, theirs in zip(self.cache.layers, prefilled.layers, strict=True):
            if moved:
                mine.shift(moved)
            mine.append_rows(theirs.keys[index], theirs.values[index])
        return moved

    def keep(self, order: list[int]) -> None:
        """Keep the rows listed in ``order``, which must put survivors first.

        Rows already in place stay; each freed slot below the new row count
        receives one survivor from above it.
        """
        torch = import_torch()
        pairs = [(i, src) for i, src in enumerate(order) if i != src]
        device = self.cache.layers[0].device if self.cache.layers else "cpu"
        targets = torch.tensor([i for i, _ in pairs], dtype=torch.long, device=device)
        sources = torch.tensor([s for _, s in pairs], dtype=torch.long, device=device)
        for layer in self.cache.layers:
            if pairs:
                layer.move_rows(targets, sources, len(order))
            else:
                layer.rows = len(order)
                layer._refresh()

    def trim(self, columns: int) -> None:
        """Drop ``columns`` leading columns that no row uses."""
        for layer in self.cache.layers:
            layer.shift(-columns)
