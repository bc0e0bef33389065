package deploy

import (
	"os"
	"testing"

	"sigs.k8s.io/yaml"
)

// promRule is the PrometheusRule of deploy/monitoring/alerts.yaml.
type promRule struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert       string            `json:"alert"`
				Expr        string            `json:"expr"`
				For         string            `json:"for"`
				Labels      map[string]string `json:"labels"`
				Annotations map[string]string `json:"annotations"`
			} `json:"rules"`
		} `json:"groups"`
	} `json:"spec"`
}

func loadRules(t *testing.T) promRule {
	t.Helper()
	raw, err := os.ReadFile("monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule promRule
	if err := yaml.UnmarshalStrict(raw, &rule); err != nil || rule.Kind != "PrometheusRule" || rule.APIVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("alerts.yaml: %v (kind %q)", err, rule.Kind)
	}
	return rule
}

// TestAlertsAreComplete: every rule has a unique name, an expression, a
// duration, a severity Alertmanager routes on and a summary. What the
// expressions select is checked by TestMonitoringQueries.
func TestAlertsAreComplete(t *testing.T) {
	rule := loadRules(t)
	seen := map[string]bool{}
	n := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.For == "" || r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("rule %q is incomplete", r.Alert)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("rule %s: severity %q, want warning or critical", r.Alert, s)
			}
			if seen[r.Alert] {
				t.Errorf("two rules are named %s", r.Alert)
			}
			seen[r.Alert] = true
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}
