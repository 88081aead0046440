"""Load and fault tests against a real gunicorn with 4 workers (`make test-load`)."""
