"""The guard proven end to end: `liveguard call` logic → relay → GuardedSession → SDK → emulator."""
