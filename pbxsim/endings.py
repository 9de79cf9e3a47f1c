"""How each kind of call ends: cause, TechCause, DialStatus, disposition, Reason, event order.

Taken trace by trace from the Asterisk 22 captures (``busy``, ``congestion``,
``no_route_at_carrier``, ``mode2_registration_rejected``, ``carrier_down_unqualified``,
``no_answer_timeout``, ``coreshowchannels_during_calls``, ``answered_*``,
``originate_application_wait``). Real Asterisk races its originate thread against Stasis, so
the order differs between captures; keeping each capture's order lets tests compare directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from pbxsim.config import (
    ANSWER,
    ANSWER_HOLD,
    BUSY,
    CONGESTION,
    REJECTED,
    TIMEOUT_408,
    UNALLOCATED,
)

HR, SOFT, DIALEND, ORIG, HANGUP, CDR = ("HangupRequest", "SoftHangupRequest", "DialEnd",
                                        "OriginateResponse", "Hangup", "Cdr")
CEL_H, CEL_END, CEL_LINK, QOS = "CEL_HANGUP", "CEL_CHAN_END", "CEL_LINKEDID_END", "RTPQOS"


@dataclass(frozen=True)
class Ending:
    cause: int
    tech_cause: int | None
    dial_status: str | None
    disposition: str
    reason: int
    far_end: bool  # CEL hangupsource is the channel itself (the far end hung up)
    steps: tuple[str, ...]


FAR_END_FAILURES = {
    BUSY: Ending(17, 486, "BUSY", "BUSY", 0, True,
                 (HR, DIALEND, HANGUP, ORIG, CDR, CEL_H, CEL_END, CEL_LINK)),
    CONGESTION: Ending(34, 503, "CONGESTION", "CONGESTION", 0, True,
                       (HR, DIALEND, HANGUP, ORIG, CEL_H, CDR, CEL_END, CEL_LINK)),
    UNALLOCATED: Ending(1, 404, "NOANSWER", "NO ANSWER", 0, True,
                        (HR, DIALEND, CDR, CEL_H, ORIG, HANGUP, CEL_END, CEL_LINK)),
    REJECTED: Ending(21, 403, "NOANSWER", "NO ANSWER", 0, True,
                     (HR, DIALEND, CEL_H, CEL_END, ORIG, CEL_LINK, HANGUP, CDR)),
    TIMEOUT_408: Ending(18, 408, "NOANSWER", "NO ANSWER", 0, True,
                        (HR, ORIG, CEL_H, DIALEND, HANGUP, CEL_END, CDR, CEL_LINK)),
}
RING_TIMEOUT = Ending(19, 480, None, "NO ANSWER", 3, False,
                      (ORIG, CDR, CEL_H, CEL_END, CEL_LINK, HANGUP))
AMI_UNANSWERED = Ending(16, None, "NOANSWER", "NO ANSWER", 0, False,
                        (ORIG, DIALEND, CEL_H, CDR, HANGUP, CEL_END, CEL_LINK))
REMOTE_BYE = Ending(16, None, None, "ANSWERED", 4, True,
                    (QOS, HR, SOFT, CDR, CEL_H, HANGUP, CEL_END, CEL_LINK))
REMOTE_BYE_APP = Ending(16, None, None, "ANSWERED", 4, True,
                        (QOS, HR, CEL_H, CEL_END, CEL_LINK, HANGUP, CDR))
AMI_ANSWERED = Ending(16, None, None, "ANSWERED", 4, False,
                      (SOFT, QOS, CDR, CEL_H, CEL_END, CEL_LINK, HANGUP))
DIALPLAN_DONE = Ending(16, None, None, "ANSWERED", 4, False,
                       (QOS, CDR, CEL_H, CEL_END, CEL_LINK, HANGUP))

ANSWER_ORDER = {
    ANSWER: ("CEL_ANSWER", "Up", DIALEND, "DSC", ORIG),
    ANSWER_HOLD: ("CEL_ANSWER", "Up", ORIG, DIALEND, "DSC"),
    "app": ("Up", DIALEND, "CEL_ANSWER", "DSC", ORIG),
}
QOS_VARS = (
    ("RTPAUDIOQOS", "ssrc={ssrc};themssrc={them};lp=0;rxjitter=0.000000;rxcount=150;"
     "txjitter=0.000000;txcount=150;rlp=0;rtt=0.000000;rxmes=0.000000;txmes=0.000000"),
    ("RTPAUDIOQOSJITTER", ";".join(f"{p}{d}jitter=000.000000" for d in ("rx", "tx")
                                   for p in ("min", "max", "avg", "stdev")) + ";"),
    ("RTPAUDIOQOSLOSS", ";".join(f"  {p}{d}lost=000.000000" for d in ("rx", "tx")
                                 for p in ("min", "max", "avg", "stdev")) + ";"),
    ("RTPAUDIOQOSRTT", ";".join(f"     {p}rtt=000.000000" for p in ("min", "max", "avg",
                                                                    "stdev")) + ";"),
    ("RTPAUDIOQOSMES", ";".join(f"   {p}{d}mes=000.000000" for d in ("rx", "tx")
                                for p in ("min", "max", "avg", "stdev")) + ";"),
)
