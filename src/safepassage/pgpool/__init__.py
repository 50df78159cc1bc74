"""PostgreSQL through psycopg's pool with a wait that tells a flood from an outage (base.py)."""
