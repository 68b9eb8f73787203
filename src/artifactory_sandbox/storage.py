"""Work in progress: routes land in the next commits."""

from .http import Route

ROUTES: list[Route] = []
