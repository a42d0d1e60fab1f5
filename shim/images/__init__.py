"""Images: references, the registry client, layer storage by ChainID, the image store (``store.py``)."""
