"""The application's version: the one place it is written (bumped by `make release`)."""

APP_VERSION = "0.1.0"
