"""The SQL registry of documents and jobs (SQLite embedded, PostgreSQL in production)."""
