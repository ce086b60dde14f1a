"""PortOne V1 billing keys on AWS Lambda: handler (app) -> service -> adapters (portone, credentials)."""
