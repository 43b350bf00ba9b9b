"""The template generator: genomes, their rendering as Net API code, and search operators."""
