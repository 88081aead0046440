"""Batch files: reading, scoring, the upload store and the watch folder."""
