"""Domain code of the patient-risk pipeline: synthetic sources, validation, the feature catalog,
business rules and FHIR output. Pure functions over pandas frames; no Temporal, no I/O except
in ``sources`` (reading and writing the four source systems)."""
