"""`omnivec tune`: adapt the small text model to the user's own code.

Pairs are mined from an indexed folder (`pairs`, `sources`), the model is fine-tuned
contrastively with sentence-transformers' trainer (`train`), saved inside the store and the
store's text collection re-embedded with it (`store`).
"""
