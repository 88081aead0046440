"""Tests of the batch services (webapp/services/batch/)."""
