"""An event loop's default executor that nobody waits for, for ``riffcast listen``."""

from __future__ import annotations

import concurrent.futures
import threading
from typing import Any


class DaemonThreadExecutor(concurrent.futures.ThreadPoolExecutor):
    """An event loop's default executor that runs each call in a daemon thread of its own and
    does not wait for them at shutdown.

    The loop looks up host names there (getaddrinfo). With the standard executor, a lookup
    that hangs (a DNS server that does not answer) held Ctrl-C until it gave up, 17 s in a
    test: asyncio.run joins the executor's threads on the way out, and so does the
    interpreter's exit. Nothing that must finish runs there.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                future.set_exception(error)
            else:
                future.set_result(result)

        threading.Thread(target=run, name="riffcast-listen-lookup", daemon=True).start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Return at once: the threads are daemons, nobody waits for them."""
