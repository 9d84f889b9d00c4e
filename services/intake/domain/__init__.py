"""intake's pure rules and models: no I/O, no framework, no clock (time arrives as an argument).

- `reference`: the facts a submission is checked against (Parties, codes), as loaded at start;
- `submissions`: what a valid submission is, and what an accepted or rejected one says;
- `model`: what intake keeps about requests, timelines and offers (the repositories' results);
- `progress`: which of two views of a request's status is the later one;
- `reporting`: the assistance report, from plain rows;
- `dead_letters`: what operators see of ta.deadletter.v1, and when a dead letter may be replayed;
- `errors`: the outcomes a use case reports to its caller instead of a result.
"""
