"""The simulation engine: building a run from a scenario and running its slot processes."""
