"""intake's use cases, one module per use case (or per family of small ones).

Each is a plain `async def` taking an open `IntakeUnitOfWork` (the entry point opened it; its
transaction holds the inbox claim, the state change and the outbox rows) and its dependencies
(reference data, clock) as arguments. A use case needing several transactions takes the factory.
"""
