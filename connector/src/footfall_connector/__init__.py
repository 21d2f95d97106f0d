"""footfall-connector: read counts from a site's own database and push them to footfall over HTTPS.

It needs no inbound port and no Airflow: SQLAlchemy to read, requests to send, and a local
SQLite outbox so that nothing read is lost before the server has acknowledged it.
"""

__version__ = "0.1.0"
