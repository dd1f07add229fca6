"""Shortcuts past other libraries' own code on the per-frame paths, each beside its reference
path."""
