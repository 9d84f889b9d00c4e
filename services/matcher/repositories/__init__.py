"""All of matcher's SQL, one class per group of tables, each built on the unit's connection
(services/matcher/unit_of_work.py binds them):

- requests.py: requests and their slots (a request's row is its lock);
- offers.py: assignments (the offers) and the answers received;
- partners.py: the partner registry and the partners' load against their capacity.

Rows never leave these modules: every method returns domain models (services.matcher.domain).
"""
