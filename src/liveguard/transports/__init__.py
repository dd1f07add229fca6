"""Caller-facing transports: Twilio Media Streams (phone) and a browser WebSocket (talk page)."""
