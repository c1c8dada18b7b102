"""The verifier protocol, where verifier authors look for it.

It lives in the core (:mod:`reasonloop.core.protocols`); this module
re-exports it, so ``from reasonloop.verifiers.base import VerifyResult``
keeps working.
"""

from __future__ import annotations

from reasonloop.core.protocols import Verifier, VerifierFactory, VerifyResult

__all__ = ["Verifier", "VerifierFactory", "VerifyResult"]
