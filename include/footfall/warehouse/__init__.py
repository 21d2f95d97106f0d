"""The warehouse layer: all of footfall's SQL, by concern."""
