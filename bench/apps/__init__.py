"""WSGI applications that the benchmark serves from every server under test."""
