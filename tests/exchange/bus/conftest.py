"""The kafka tests' cluster is the suite's ``kafka_cluster`` (tests/conftest.py): three
secured KRaft nodes with the principals the tests speak as — two departments' connectors
(``gongan``, ``minzheng``), exchange nodes (``node-a``, ``node-b``) and a user with no ACL
at all (``nobody``)."""
