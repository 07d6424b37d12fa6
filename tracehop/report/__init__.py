"""Reports on traceback runs (the demo's offline HTML report)."""
