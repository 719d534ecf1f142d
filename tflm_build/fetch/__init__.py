"""Dependencies: pins (third_party/*.yaml), download with mirrors and cache, archive extraction, tree hashes.

Depends on the model only; the build asks it for verified trees.
"""
