"""The browser player: static files served by `riffcast serve` at / and /static/ (no build step)."""
