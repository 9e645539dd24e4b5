"""The areas, in the order they run (closing areas, which stop main, run last)."""

from cases import audit, authorize, device, exchange, files, limits, origin, policy, registration, sessions, token, tokens

AREAS = [
    registration.AREA,
    authorize.AREA,
    token.AREA,
    device.AREA,
    tokens.AREA,
    exchange.AREA,
    sessions.AREA,
    policy.AREA,
    limits.AREA,
    origin.AREA,
    audit.AREA,
    files.AREA,
]
