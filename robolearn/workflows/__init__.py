"""Workflows: whole experiments in one call, on the library below (`robolearn reproduce`)."""
