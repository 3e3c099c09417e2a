"""After a batch that made many long-lived objects with the cyclic collector off: put them in its oldest generation.

A cold scan keeps nearly everything it makes (trackers, epoch records, store entries, facts)
and runs with the collector off (``gc.disable``: passes over a growing heap cost more than
they reclaim). Turned back on, the collector would first pass over every one of those
objects as young (generation 0), promote them, and soon pass over them again as
generation 1: about 0.1 s of CPU at 1,000 runs, spent on objects that are all alive,
inside the scan's last step. ``gc.freeze()`` followed by ``gc.unfreeze()`` moves every
tracked object to the oldest generation with no pass at all (both documented: freeze
moves them to the permanent generation, unfreeze puts them back into the oldest); full
collections then go over them as usual. Any cyclic garbage among them waits for the next
full collection instead of the next young one, so the batch itself must not leave much
(the config reader empties its evaluations' namespaces when a batch ends).
"""

from __future__ import annotations

import gc

# Objects made since the last collection below which the usual young collections are left to run.
MIN_YOUNG = 20_000


def promote_young(min_young: int = MIN_YOUNG) -> bool:
    """Move every tracked object to the oldest generation when the young one holds ``min_young`` or more.

    Not done when something else froze objects (``gc.get_freeze_count()``): unfreezing would
    release theirs. Returns whether it was done.
    """
    if gc.get_count()[0] < min_young or gc.get_freeze_count():
        return False
    gc.freeze()
    gc.unfreeze()
    return True
