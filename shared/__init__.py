"""What the web app and the stream worker agree on: settings, the event schema, the data model."""
