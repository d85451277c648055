"""Citizen-facing HTTP for the WeChat and Alipay mini-programs: thin (parse -> service -> dump)."""
