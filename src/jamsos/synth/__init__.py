"""Synthetic, invented data: never real people. NIKs are valid in shape only."""
