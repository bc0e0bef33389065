package apsc

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"
)

// Secret fields of the APS resources the controller exchanges with the
// facade. The controller remembers every value it sees in them, so that a
// test can look for those values where they must never appear: the
// gateway's logs and traces, and (for what the platform sent) its answers.
var (
	// sentSecrets are the write-only fields the platform sends: they must
	// never come back in an answer.
	sentSecrets = map[string]bool{"client_secret": true, "refresh_token": true, "password": true}
	// returnedSecrets are the readonly secrets the gateway returns once
	// (in the answer that completes a provisioning, and its re-sends);
	// they must still never be logged or traced.
	returnedSecrets = map[string]bool{"admin_password": true, "initial_password": true}
)

// Secret is a secret value the controller saw, and what it is.
type Secret struct {
	Kind  string // the field name, or "private key"
	Value string
}

// noteSecrets remembers the secret fields of a body; sent tells whether
// the platform sent it (a request) or the gateway did (an answer).
func (c *Controller) noteSecrets(body []byte, sent bool) {
	if len(body) == 0 || !bytes.Contains(body, []byte("\"")) {
		return
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	walkSecrets(v, func(key, value string) {
		switch {
		case sent && sentSecrets[key], returnedSecrets[key]:
			if c.secrets == nil {
				c.secrets = map[Secret]bool{}
			}
			c.secrets[Secret{Kind: key, Value: value}] = sent
		}
	})
}

// walkSecrets calls fn for every string property of v, at any depth.
func walkSecrets(v any, fn func(key, value string)) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if s, ok := x.(string); ok && s != "" {
				fn(k, s)
				continue
			}
			walkSecrets(x, fn)
		}
	case []any:
		for _, x := range t {
			walkSecrets(x, fn)
		}
	}
}

// Secrets returns every secret value the controller saw (the instances'
// private keys, the credentials and passwords sent, the passwords
// returned), sorted, for a scan of the gateway's logs and traces. A
// private key is given as the lines of its PEM body, each of which must
// not appear anywhere.
func (c *Controller) Secrets() []Secret {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []Secret
	for s := range c.secrets {
		out = append(out, s)
	}
	for _, key := range c.instanceKeys {
		for _, line := range strings.Split(key, "\n") {
			if len(line) >= 32 && !strings.HasPrefix(line, "-----") {
				out = append(out, Secret{Kind: "private key", Value: line})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Value < out[j].Kind+out[j].Value })
	return out
}

// Leaks are the answers that carried a secret the platform sent or an
// instance's private key: none may.
func (c *Controller) Leaks() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.leaks...)
}

// checkAnswer records a leak when an answer carries a secret the platform
// sent or a private key.
func (c *Controller) checkAnswer(method, path string, body []byte) {
	for _, s := range c.Secrets() {
		sent := s.Kind == "private key"
		if !sent {
			c.mu.Lock()
			sent = c.secrets[s]
			c.mu.Unlock()
		}
		if sent && bytes.Contains(body, []byte(s.Value)) {
			c.mu.Lock()
			c.leaks = append(c.leaks, method+" "+path+" answered with a "+s.Kind)
			c.mu.Unlock()
		}
	}
}
