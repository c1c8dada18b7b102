"""The batched CPU decoder behind the transformers backend.

:mod:`.batch` runs many sequences through one model step at a time,
:mod:`.kv_slab` holds their key/value cache, :mod:`.attention` is the
attention function that reads it, and :mod:`.sampling` picks each token.
"""
