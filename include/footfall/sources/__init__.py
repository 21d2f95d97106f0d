"""Source kinds that are not HTTP: a database query (`sql`) and export files dropped in a folder (`file`)."""
