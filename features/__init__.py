"""Sensor schema, input validation and the feature pipeline shared by training and serving."""
