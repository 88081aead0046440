"""Tests of the stream follower (webapp/services/stream/)."""
