"""Activities of the PatientRiskPipeline, one module per stage (sources, preparation, scoring,
delivery, notification, records)."""
