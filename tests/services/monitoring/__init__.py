"""Tests of the monitoring services (webapp/services/monitoring/)."""
