"""Scenarios across channels or processes: shadow, rejections everywhere, switch under load."""
