"""Peer servers that run the same contract as cogen_aio, for side-by-side figures."""
