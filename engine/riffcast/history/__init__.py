"""The station's memory: the as-run log of what aired when (``as_run``, written by ``log_file``),
the steers that changed it (``steers``) and what ``/history`` makes of it (``segments``).
Imports pipeline and steering (what an image was painted for) and delivery (the archive's part
names); never station."""
