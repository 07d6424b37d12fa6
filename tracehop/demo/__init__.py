"""The `tracehop demo` pipeline (sim -> records -> stores -> chains -> report)."""
