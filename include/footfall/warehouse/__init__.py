"""The warehouse layer: every SQL statement footfall runs, by the part of the product it serves."""
