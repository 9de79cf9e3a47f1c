"""Celery task names, shared by the publisher (web) and the worker without either importing the
other: the web app enqueues by name only."""

ORIGINATE_CALL = "dispatcher.originate_call"
HANGUP_CALL = "dispatcher.hangup_call"
REPUBLISH_STALE = "dispatcher.republish_stale"
PUMP_TRUNK = "dispatcher.pump_trunk"
DISPATCH_CALLBACKS = "dispatcher.dispatch_callbacks"
DELIVER_CALLBACK = "dispatcher.deliver_callback"
RUN_HOPPER = "dispatcher.run_hopper"
PURGE_HISTORY = "dispatcher.purge_history"

#: Housekeeping that beat sends every second or few: a line per run would bury what matters, so
#: the worker's and beat's lines about these are DEBUG (``dispatcher.logs.RoutineTicks``).
ROUTINE_TASKS = frozenset({REPUBLISH_STALE, PUMP_TRUNK, DISPATCH_CALLBACKS, RUN_HOPPER,
                           PURGE_HISTORY})
