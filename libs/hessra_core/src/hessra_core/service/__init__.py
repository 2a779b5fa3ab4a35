"""Service plumbing the issuer, the signer and policy-sync share.

- :mod:`~hessra_core.service.layered_config`: a service's config from built-in
  defaults, a TOML file, ``HESSRA_*`` variables and flags, with every problem
  reported at once (each service keeps its own frozen dataclass and keys).
"""
