"""Job runners: where ingestion jobs execute."""
