"""Values with a meaning of their own inside a conversation's answers, shared by the engine
(which reads them) and the case store (which writes them). No imports: the engine stays pure."""

from __future__ import annotations

# What the server-side view of the answers shows in place of a value sealed to the case key.
SEALED_ANSWER = "\u0000sealed"
