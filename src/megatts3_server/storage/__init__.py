"""What every store stands on, in both dialects: connections and transactions (sqlite.py, postgres.py),
a process's one database shared by its stores (databases.py), one versioned migration system for
every table (migrations.py; the schemas: schema_sqlite.py, schema_postgres.py), the mapping of disk
and database faults to 507 / 503 (faults.py) and the leased-work queue every kind of background work
uses (leased_work.py: claim, renew, end, take-over).

The stores themselves live with their concern: voices/ (the catalogue and its files), lexicon_store/
(the stored lexicon entries) and jobs/ (long-form jobs)."""
