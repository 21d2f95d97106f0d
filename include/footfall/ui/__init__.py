"""footfall inside the Airflow UI: the plugin's preload guard, its pages (Sites, Site, Data Docs) and their charts."""
