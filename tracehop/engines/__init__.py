"""Query engines behind one protocol (:mod:`tracehop.engines.base`); DuckDB is the default."""
