"""The warehouse layer: every SQL statement and every SQLite/PostgreSQL difference of footfall."""
