"""Reference implementations the tests compare the runtime against (not part of cosim)."""
