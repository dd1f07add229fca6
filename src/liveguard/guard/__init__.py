"""The guard: a pure state machine (events and a clock in, verdicts and actions out).

Must not import asyncio or the SDK: it runs the same live, in tests and in replay.
"""
