"""Data: codecs, datasets and loaders that hand the trainer ``Batch``es.

``rnnkit.data.memory`` holds the built-in memory-capacity tasks (adding problem, copy memory, sequential
digits), generated or shipped with scikit-learn, so they need no download.
"""
