"""The code the numbered notebooks share, in layers: core, data, models, tasks, report
(docs/DESIGN.md#layers)."""
