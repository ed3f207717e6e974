"""``riffcast serve``: the pacing clock, HTTP and WebSocket routes, the control and OSC sockets,
and the wiring of pipeline, delivery and ops into one process. Only the CLI imports it."""
