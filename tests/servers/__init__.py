"""The server matrix: the same small apps with lilqueue mounted, each served by a real web
server as a process (tests/servers/test_matrix.py)."""
