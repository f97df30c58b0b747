"""Shared test setup: pytest runs from the course root, the matplotlib backend is headless."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")
