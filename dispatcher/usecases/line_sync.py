"""Keep the shared line counters true to what the PBX actually carries.

Leases are advisory bookkeeping; the PBX's live channels are the truth. After every consumer
(re)connect and periodically, leases of calls that are over are dropped, and live trunk channels
that are not ours (another AMI client's calls, or a call whose lease was lost) are counted as
occupied lines, so admission never fills a line that is physically busy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from dispatcher.adapters.ami.protocol import AMIMessage
from dispatcher.adapters.db.calls import CallRepository
from dispatcher.adapters.db.engine import Sessions
from dispatcher.domain.status import FINAL_STATUSES
from dispatcher.domain.trunks import Trunk
from dispatcher.usecases.admission import Admissions

logger = logging.getLogger(__name__)


def resync_lines(sessions: Sessions, admissions: Admissions, trunks: Iterable[Trunk],
                 live_items: list[AMIMessage]) -> dict[str, int]:
    """Return the number of stale leases dropped per trunk."""
    dropped: dict[str, int] = {}
    if not admissions.enabled:
        return dropped
    for trunk in trunks:
        capacity = admissions.capacity(trunk.name)
        holders = capacity.holders()
        with sessions() as session:
            rows = CallRepository(session).by_ids(holders)
        keep = [h for h in holders if h in rows and rows[h].status not in FINAL_STATUSES]
        dropped[trunk.name] = capacity.resync(keep)
        ours = {str(rows[h].attempt_id) for h in keep if rows[h].attempt_id}
        prefix = f"PJSIP/{trunk.endpoint}-"
        foreign = [item for item in live_items
                   if (item.get("Channel") or "").startswith(prefix)
                   and item.get("Uniqueid") not in ours and item.get("Linkedid") not in ours]
        capacity.set_foreign(len(foreign))
        if dropped[trunk.name] or foreign:
            logger.warning("trunk %s: dropped %d stale lease(s); %d live channel(s) not ours",
                           trunk.name, dropped[trunk.name], len(foreign))
        if dropped[trunk.name]:
            admissions.pump(trunk.name)
    return dropped
