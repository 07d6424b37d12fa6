"""One small writer per real CDR format, each writing files exactly as its switch does.

Importing this package registers the built-in writers in :data:`base.WRITERS`; formats added later
(carrier CDRs, SIP captures) register themselves the same way, under their ingest format name.
"""

from tracehop.sim.writers import (
    asterisk_cdr_csv,
    cisco_cucm_cdr,
    freeswitch_cdr_csv,
    freeswitch_json_cdr,
    kamailio_acc_syslog,
    ribbon_sbc_act,
    sip_capture,
)
from tracehop.sim.writers.base import WRITERS, Writer, register, write_records

__all__ = [
    "WRITERS",
    "Writer",
    "asterisk_cdr_csv",
    "cisco_cucm_cdr",
    "freeswitch_cdr_csv",
    "freeswitch_json_cdr",
    "kamailio_acc_syslog",
    "register",
    "ribbon_sbc_act",
    "sip_capture",
    "write_records",
]
