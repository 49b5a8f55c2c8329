"""cosim.market subpackage."""
