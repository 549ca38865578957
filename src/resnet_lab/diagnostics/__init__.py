"""Diagnostics: pure statistics (stats.py), collectors (hooks.py), rules (verdict.py), analysis (analyze.py)."""
