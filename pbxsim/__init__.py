"""A simulated Asterisk 22 AMI for tests and the local dev stack.

There is no Asterisk on developer machines or in CI, yet the dispatcher's correctness hinges on
Asterisk's exact AMI behaviour (framing limits, event order, OriginateResponse reasons, hangup
causes, what happens on restart). This package reproduces that behaviour from the real captures
in ``tests/data/ami-traces`` closely enough to test against, and adds hooks that real Asterisk
cannot offer: per-ChannelId originate counts, peak trunk usage and fault injection.

It depends only on the standard library and :mod:`dispatcher.adapters.ami.protocol`.
"""

from pbxsim.config import CARRIER_PLAN, OUTCOMES, CallShape, SimConfig
from pbxsim.server import PBXSimulator

__all__ = ["CARRIER_PLAN", "OUTCOMES", "CallShape", "PBXSimulator", "SimConfig"]
