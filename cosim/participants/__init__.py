"""Participants: who they are, their profiles and devices, how they bid and deliver."""
