"""Tests of the flask commands (webapp/commands/)."""
