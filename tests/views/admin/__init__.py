"""Tests of the administration pages (webapp/views/admin/)."""
