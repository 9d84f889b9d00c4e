"""matcher's use cases, one module per use case; each runs inside the unit of work its entry
point opened (consumers.py, api.py, workers.py) and takes its other dependencies as arguments.

- requests.py: a new request is matched (offers made), an erased one forgotten;
- answers.py: a partner's answer to an offer;
- expiry.py: offers nobody answered in time;
- partners.py: operators' edits of the partner registry;
- saga.py: the offer saga's steps the three above share; catalog.py: the registry in memory.
"""
