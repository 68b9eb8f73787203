"""Provenance that travels with the model: the AI-BOM and the model card."""
