"""Local fakes for X, Slack, Twilio and SMTP; every server binds 127.0.0.1 only."""
