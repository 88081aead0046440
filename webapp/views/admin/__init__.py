"""Administration pages (admin role only): one blueprint per area, API keys and users."""
