package config

import (
	"errors"
	"time"

	"github.com/o365gateway/gateway/services/shared/audit"
)

// Audit is the configuration of a service's audit log (package audit): the
// key of its MAC chain, kept outside the database, and how often the
// chain's head is exported.
type Audit struct {
	AuditKeyFile      string        `env:"AUDIT_KEY_FILE" help:"file holding the base64 key (32 bytes or more, e.g. openssl rand -base64 32) whose HMAC-SHA256 chains the audit log's entries; every entry names the key's id (derived from the key), so a new file rotates it (keep the old one to verify older entries)"`
	AuditHeadInterval time.Duration `env:"AUDIT_HEAD_INTERVAL" default:"1m" help:"how often the audit chain's head (sequence number and MAC) is logged and set as the metrics audit_chain_head_seq and audit_chain_head_mac48 (also at shutdown)"`
}

// Validate checks the audit settings (the key is read when the service
// starts, by Key).
func (a Audit) Validate() error {
	var errs []error
	if a.AuditKeyFile == "" {
		errs = append(errs, errors.New("AUDIT_KEY_FILE is required (a file with a base64 key of 32 bytes or more, e.g. openssl rand -base64 32)"))
	}
	// Zero (a configuration built in code) means the default.
	if a.AuditHeadInterval < 0 || a.AuditHeadInterval > 0 && a.AuditHeadInterval < time.Second {
		errs = append(errs, errors.New("AUDIT_HEAD_INTERVAL must be at least 1s"))
	}
	return errors.Join(errs...)
}

// Key reads the audit key file.
func (a Audit) Key() (*audit.Key, error) {
	if a.AuditKeyFile == "" {
		return nil, errors.New("AUDIT_KEY_FILE is required")
	}
	return audit.LoadKeyFile(a.AuditKeyFile)
}
