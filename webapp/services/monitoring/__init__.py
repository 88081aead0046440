"""Monitoring figures: day-file cache, summaries, drift, application log errors, the report."""
