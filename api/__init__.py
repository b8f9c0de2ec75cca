"""The HTTP API: public status for residents, the operator API, and the status page."""
