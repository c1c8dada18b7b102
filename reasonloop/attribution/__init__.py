"""Attribution: what each plugin contributed, by Shapley and Banzhaf values over runs."""

from __future__ import annotations

from reasonloop.attribution.runner import Attribution, check_plugins
from reasonloop.attribution.values import banzhaf_values, shapley_values

__all__ = ["Attribution", "banzhaf_values", "check_plugins", "shapley_values"]
