"""The `hessra-issuer` service."""
