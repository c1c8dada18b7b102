"""Hugging Face models on the CPU and GPU: loading, tokenisation, perplexity, decoding.

Used by the transformers backend, the TRL trainers and the plugins that score
examples (raters, curriculum). It imports no other reasonloop layer but
``core`` and ``errors``, so any layer may use it.
"""
