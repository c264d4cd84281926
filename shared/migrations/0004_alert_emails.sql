-- The notifier's record of the alerts whose email the SMTP server accepted, so that a message
-- delivered twice (the matcher republished it, or RabbitMQ redelivered it) is not mailed twice.
-- Its own table, not a column of alerts: writing it must not fire the alerts triggers.
CREATE TABLE alert_emails (
    alert_id bigint PRIMARY KEY,
    sent_at  timestamptz NOT NULL DEFAULT now()
);
