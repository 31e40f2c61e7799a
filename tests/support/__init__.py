"""Test helpers shared by the integration tests (real Redis, database, sandbox)."""
