"""CRM sync: source adapters (HubSpot, Pipedrive, REST JSON, CSV), mapping, and the run loop.

Pure of Flask and RQ (STYLE rule 1): `jobs.run_sync` calls `runner.SyncRunner`; the API only
validates definitions and starts runs through `services/syncs.py`.
"""
