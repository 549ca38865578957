"""Report writing: plots (matplotlib Agg), computed conclusions, HTML/Markdown. No training imports."""
