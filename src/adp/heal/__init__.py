"""The self-healing loop (`Healer`), in small parts: `policy` chooses what to apply per mode, `apply_one` is
the one apply path every fix takes (guards + effect judge), `verify` keeps or rolls back, `finish` ends the run,
`records` holds the typed records. The entry points that run it sit above, in `adp.pipeline`."""
from adp.heal.loop import Healer, backoff_delay
from adp.heal.policy import Approve
from adp.heal.records import FixRecord

__all__ = ["Approve", "FixRecord", "Healer", "backoff_delay"]
