"""Messages to a citizen's mini-program account (WeChat subscribe messages, Alipay template
messages): the accepted templates and the generic outbox that the service desk's and the
payments' notices share (app.outbox.outbox)."""
