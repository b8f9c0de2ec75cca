"""Analytics: watch the reading stream and open proactive service tickets.

`rules` decides what is a breach, `tickets` (the policy) decides what becomes a ticket,
`service` wires both to an MQTT subscription.
"""
