"""Diagnostics: pure statistics (stats.py), collectors (hooks.py), rules (verdict.py), the before/after diagnosis (diagnose.py)."""
