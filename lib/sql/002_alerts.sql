-- Alert webhooks to team leads (SPEC section 6): the transactional outbox.
-- The analytics insert a row in the same transaction as the data that caused
-- it; the sender thread claims due rows, posts them and records the outcome.
-- Applied inside the configured schema (search_path is set by mentord).

CREATE TABLE alerts (
    alert_id          text PRIMARY KEY,  -- stable: the idempotency key and the webhook-id header
    kind              text NOT NULL CHECK (kind IN ('low_score_trigger', 'fatal_behavior', 'pairing_created',
                                                    'no_mentor_available', 'pairing_completed')),
    team_lead_id      text,              -- the mentee's team lead; NULL: none known (default route only)
    agent_id          text NOT NULL,     -- the mentee
    occurred_at       timestamptz NOT NULL,  -- event time of what caused the alert
    created_at        timestamptz NOT NULL DEFAULT now(),
    payload           jsonb NOT NULL,    -- the generic JSON body, sent as it is to json routes
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'sent', 'dead', 'recorded')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    last_error        text,              -- one line, never a secret or a URL path
    last_status_code  integer,           -- HTTP status of the last answer; NULL: no answer
    sent_at           timestamptz
);

-- The sender's claim: due pending rows in next_attempt_at order.
CREATE INDEX alerts_due ON alerts (next_attempt_at) WHERE status = 'pending';
-- The per-lead rate limit: alerts sent to a lead in the last hour.
CREATE INDEX alerts_sent_by_lead ON alerts ((coalesce(team_lead_id, '')), sent_at) WHERE status = 'sent';

-- A route that answered 410 Gone is disabled until an operator sets it
-- again: changing webhook_url clears the mark, or set it to NULL by hand.
ALTER TABLE team_leads
    ADD COLUMN webhook_disabled_at timestamptz,
    ADD COLUMN webhook_disabled_reason text;

CREATE FUNCTION team_leads_enable_changed_route() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.webhook_url IS DISTINCT FROM OLD.webhook_url THEN
        NEW.webhook_disabled_at := NULL;
        NEW.webhook_disabled_reason := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER team_leads_route_changed BEFORE UPDATE OF webhook_url ON team_leads
    FOR EACH ROW EXECUTE FUNCTION team_leads_enable_changed_route();

-- The default route is the team_leads row '*': alerts whose lead has no
-- webhook_url of its own (or no lead) go there. Ingest never creates it (no
-- roster names a lead '*'); an operator sets its webhook_url to use it.
INSERT INTO team_leads (team_lead_id, name) VALUES ('*', 'default route') ON CONFLICT DO NOTHING;

-- Wakes the sender as soon as alerts are inserted (it polls too, every
-- [alerts] poll_ms, so a missed notification only delays).
CREATE FUNCTION alerts_notify_sender() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mentord_alerts', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER alerts_inserted AFTER INSERT ON alerts
    FOR EACH STATEMENT EXECUTE FUNCTION alerts_notify_sender();
