"""The build-info document: its schema, the recorded environment, and the VCS section."""
