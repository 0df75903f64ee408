"""The application: settings, database, ingest, HTTP routes and the command line."""
