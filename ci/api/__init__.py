"""The HTTP surface: webhook intake, the REST API, the tracking endpoint, the run pages."""
