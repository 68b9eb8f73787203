"""Small fakes of the services the action talks to (GitHub's API, JFrog over a mock transport)."""
