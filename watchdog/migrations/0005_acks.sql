-- Acknowledgements of incidents by a steward (who, when, a note); an incident may be acknowledged more than once.
CREATE TABLE incident_acks (
        incident_id TEXT NOT NULL,
        at REAL NOT NULL,
        who TEXT NOT NULL,
        note TEXT NOT NULL,
        PRIMARY KEY (incident_id, at, who)
    );
