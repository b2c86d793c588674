"""Loopback HTTP services of the embedded stack: the pharmacy source API, a FHIR R4 endpoint
standing in for the downstream system, and an alert inbox. Real protocols (JSON over HTTP,
FHIR transaction bundles, webhooks) so the pipeline's code paths are the production ones."""
