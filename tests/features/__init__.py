"""Tests of the feature code shared by training and serving (features/)."""
