"""notifier's use cases, one module per use case: plain functions taking an open unit of work
(or, for those needing several transactions, the unit's factory) and explicit dependencies."""
