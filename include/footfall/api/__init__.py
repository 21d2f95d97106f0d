"""The ingestion service: connectors and vendor devices push counts to footfall over HTTPS."""
