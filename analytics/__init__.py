"""Analytics: watch the reading stream and open proactive service tickets.

`detectors` score (high = anomalous), `rules` say what is a breach, `engine` runs every reading
through both and returns findings, `tickets` (the policy) decides what becomes a ticket, `service`
wires it all to an MQTT subscription with warm-up from the store, and `evaluate` measures it
against the simulators' ground truth (`citysense evaluate`, results in docs/detection.md).
"""
