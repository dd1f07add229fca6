"""Diagnose: read session logs back, summarise them, draw timelines, replay the guard, convert
SDK dumps, and serve the live dashboard. Decides nothing itself: verdicts come from the guard."""
