"""The commands of ``megatts3-server`` beyond serve and check-config: say, voices, healthcheck."""
