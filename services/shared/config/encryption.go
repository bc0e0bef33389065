package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/o365gateway/gateway/services/shared/secret"
)

// Encryption is the configuration of the keys that seal a service's secrets
// at rest (services/shared/secret): one key, or a directory of key files
// that an external secret store fills (a mounted Kubernetes Secret, a CSI
// secret-store volume) with the id of the one that seals.
type Encryption struct {
	EncryptionKey           string        `env:"ENCRYPTION_KEY" help:"base64 32-byte key that seals secrets at rest, key id default (or ENCRYPTION_KEY_FILE; or several keys: ENCRYPTION_KEYS_DIR)"`
	EncryptionKeyFile       string        `env:"ENCRYPTION_KEY_FILE" help:"file holding that key"`
	EncryptionKeysDir       string        `env:"ENCRYPTION_KEYS_DIR" help:"directory of key files instead (a mounted Secret or CSI volume): each file's name is a key id, its content a base64 32-byte key; every key opens what it sealed"`
	EncryptionActiveKey     string        `env:"ENCRYPTION_ACTIVE_KEY" help:"id of the key that seals new values; required with ENCRYPTION_KEYS_DIR"`
	EncryptionRekeyInterval time.Duration `env:"ENCRYPTION_REKEY_INTERVAL" default:"1h" help:"how often each replica re-seals, under the active key, the stored secrets sealed under another key or in the old format (also once at start; 0: only then)"`
}

// Validate checks the encryption settings (the keys themselves are read
// when the service starts, by Sealer).
func (e Encryption) Validate() error {
	var errs []error
	single := e.EncryptionKey != "" || e.EncryptionKeyFile != ""
	switch {
	case e.EncryptionKeysDir == "" && !single:
		errs = append(errs, errors.New("ENCRYPTION_KEY, ENCRYPTION_KEY_FILE or ENCRYPTION_KEYS_DIR is required"))
	case e.EncryptionKeysDir != "" && single:
		errs = append(errs, errors.New("ENCRYPTION_KEYS_DIR excludes ENCRYPTION_KEY and ENCRYPTION_KEY_FILE (put that key in the directory, in a file named "+secret.DefaultKeyID+")"))
	case e.EncryptionKeysDir != "" && !secret.ValidKeyID(e.EncryptionActiveKey):
		errs = append(errs, errors.New("ENCRYPTION_ACTIVE_KEY must name one of the files of ENCRYPTION_KEYS_DIR"))
	case e.EncryptionKeysDir == "" && e.EncryptionActiveKey != "" && e.EncryptionActiveKey != secret.DefaultKeyID:
		errs = append(errs, fmt.Errorf("ENCRYPTION_ACTIVE_KEY names a key of ENCRYPTION_KEYS_DIR; a key given alone is %s", secret.DefaultKeyID))
	}
	if e.EncryptionRekeyInterval < 0 || e.EncryptionRekeyInterval > 0 && e.EncryptionRekeyInterval < time.Minute {
		errs = append(errs, errors.New("ENCRYPTION_REKEY_INTERVAL must be 0 or at least 1m"))
	}
	return errors.Join(errs...)
}

// Sealer reads the configured keys.
func (e Encryption) Sealer() (*secret.Sealer, error) {
	return secret.Load(e.EncryptionKey, e.EncryptionKeyFile, e.EncryptionKeysDir, e.EncryptionActiveKey)
}
