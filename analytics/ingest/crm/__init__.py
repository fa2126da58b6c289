"""CRM exports (Salesforce, HubSpot, Dynamics 365, snapshots, generic) mapped onto the canonical import."""
