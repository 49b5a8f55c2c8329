"""cosim.grid subpackage."""
