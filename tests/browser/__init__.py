"""End-to-end tests in headless Chromium against a real gunicorn server."""
