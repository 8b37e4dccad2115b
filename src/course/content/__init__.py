"""The course itself: its tasks and points (curriculum), the synthetic data, and the reference models.
The bottom layer, with the package's own shared modules (limits, untrusted, feedback, i18n, version)."""
