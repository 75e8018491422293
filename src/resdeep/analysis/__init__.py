"""Why depth degrades: layer responses, gradient flow, initialisation, lesions and the loss landscape."""
