import os

import lilqueue

queue = lilqueue.Queue(os.environ.get("SHOP_DB", "shop.db"))


@queue.task()
def word_count(text: str) -> int:
    """Count the words in a text."""
    lilqueue.current_job().log("info", f"{len(text)} characters")
    return len(text.split())
