"""Helpers shared by the numbered notebooks."""
