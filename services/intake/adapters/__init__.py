"""intake's ties to the world outside its database: the reference data files it loads at start."""
