"""STIR/SHAKEN on a chain: what the matched leg's PASSporT said, for the terminal and the report.

An answer's ``match.stir`` carries the attestation, whether the signature verified, the signed
numbers and the signer's SPC (from its certificate's TNAuthList): who vouched for the caller
ID, which is the point of a traceback that meets a signed call. The demo names the signer when
the SPC is one of the network's providers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracehop.chain import Hop

if TYPE_CHECKING:
    from tracehop.sim.network import Network


@dataclass(frozen=True)
class HopStir:
    attest: str | None
    verified: bool | None
    signer_spc: str | None
    signer: str | None  # the provider whose SPC that is, if it is in the network
    orig_tn: str | None

    def short(self) -> str:
        """``A✓8453``: attestation, verified (✓) or failed (✗), signer SPC."""
        mark = "" if self.verified is None else ("✓" if self.verified else "✗")
        return f"{self.attest or '?'}{mark}{self.signer_spc or ''}"

    def text(self) -> str:
        v = ("not checked" if self.verified is None
             else "verified" if self.verified else "NOT verified")
        who = f", signed by SPC {self.signer_spc}" if self.signer_spc else ""
        if self.signer:
            who += f" ({self.signer})"
        return f"attestation {self.attest or '?'}, {v}{who}"

    def to_dict(self) -> dict[str, Any]:
        return {"attest": self.attest, "verified": self.verified,
                "signer_spc": self.signer_spc, "signer": self.signer, "orig_tn": self.orig_tn}


def hop_stir(hop: Hop, net: Network | None = None) -> HopStir | None:
    """The STIR facts of ``hop``'s matched leg, or None when the leg carried none."""
    m = hop.answer.match if hop.answer is not None else None
    if m is None or not m.stir:
        return None
    raw_spc = m.stir.get("signer_spc")
    spc = str(raw_spc) if raw_spc is not None else None
    signer = None
    if spc and net is not None:
        signer = next((p.name for p in net.providers.values() if p.ocn == spc), None)
    verified = m.stir.get("verified")
    return HopStir(m.stir.get("attest"), verified if isinstance(verified, bool) else None, spc,
                   signer, m.stir.get("orig_tn"))
