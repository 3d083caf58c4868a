"""The distribution feeder: peers placed on it with cable distances, and a power flow of every interval."""
