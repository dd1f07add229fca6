"""The simulated caller: scripted phone calls over Twilio Media Streams for tests, demos and
benchmarks (`liveguard call`)."""

from liveguard.caller.script import CallScript, ScriptError, load_script
from liveguard.caller.simulated import CallResult, SimulatedCaller, run_call

__all__ = ["CallResult", "CallScript", "ScriptError", "SimulatedCaller", "load_script", "run_call"]
