"""WSGI apps every benchmarked server runs: the same files for all peers."""
