"""Clients for the outside platforms the card talks to (WeChat, Alipay)."""
