"""Matching inquiries to inbound legs: spec -> portable SQL -> engine; scoring and ranking.

:class:`~tracehop.match.matcher.Matcher` is the entry point; see its module for the flow.
"""

from tracehop.match.matcher import BATCH_THRESHOLD, Matcher

__all__ = ["BATCH_THRESHOLD", "Matcher"]
