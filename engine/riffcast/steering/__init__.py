"""Steering: targets and their limits, the walk between them, and every way to set them —
/control requests, playlists, the saved state, the command line."""
