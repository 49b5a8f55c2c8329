"""cosim: discrete-event co-simulation of local energy markets on LV networks."""

__version__ = "0.1.0"
