"""Tests of the HTML pages (webapp/views/)."""
