-- rate_budget: token buckets shared by every replica of a service (package
-- budget): the tokens left after the last charge and when it was made (Unix
-- milliseconds). Kept beside the job table because every service has it.

-- +goose Up
CREATE TABLE rate_budget (
  budget_key TEXT PRIMARY KEY,
  tokens REAL NOT NULL,
  updated_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE rate_budget;
