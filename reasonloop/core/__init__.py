"""The ground floor: records, recipe, hooks, plugin manager, protocols, run directory, loop.

It imports only itself and :mod:`reasonloop.errors`; every other layer builds on it.
"""

__version__ = "0.1.0"
