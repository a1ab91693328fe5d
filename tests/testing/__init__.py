"""cogen_aio.testing, one test module per kit module.

These tests use the kit's own pytest fixtures (cogen_client, cogen_server, cogen_clock).
"""
