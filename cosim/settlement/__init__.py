"""cosim.settlement subpackage."""
