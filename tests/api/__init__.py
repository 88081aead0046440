"""Tests of the JSON API (webapp/api/)."""
