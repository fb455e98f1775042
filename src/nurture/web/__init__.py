"""The HTTP app: landing pages, form posts, confirmation and unsubscribe links."""
