"""The `hessra-signer` service."""
