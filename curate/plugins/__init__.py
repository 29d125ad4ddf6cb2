"""Plugin contracts and the entry-point registry."""
