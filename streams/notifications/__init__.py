"""Notifications: one completion email per completed event, to users who want them."""
