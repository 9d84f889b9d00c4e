"""intake's ties to the world outside its database: the reference data files it loads at start,
and ta.deadletter.v1 (operators read dead letters and replay them)."""
