"""matcher's outside world besides its database: the reference data files, and the metrics
it reports (`metrics`)."""
