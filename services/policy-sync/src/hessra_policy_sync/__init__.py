"""The `hessra-policy-sync` service."""
