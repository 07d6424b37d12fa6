"""Answering inquiries in bulk (``tracehop respond``) and what goes with every answer.

- :mod:`.inquiries` reads an inquiry file (CSV or JSON lines); bad rows are kept with a reason;
- :mod:`.batch` runs the batch: one ``Matcher.lookup_many`` join, answers in input order;
- :mod:`.summary` the campaign summary; :mod:`.evidence` the evidence packs;
- :mod:`.audit` the append-only, hash-chained audit log (also used by the HTTP service);
- :mod:`.deadline` the 24-hour clock; :mod:`.rmd` the Robocall Mitigation Database check.
"""
