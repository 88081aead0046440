"""Tests of the Flask-free services (webapp/services/)."""
