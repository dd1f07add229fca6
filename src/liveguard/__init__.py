"""liveguard: a guarded relay and library for the Gemini Live API.

It never leaves a caller in silence.
"""

__version__ = "0.1.0"
