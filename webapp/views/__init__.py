"""HTML pages: one blueprint per area; each parses the request, calls a service, renders."""
