package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestAlertsUseTheServicesMetrics keeps deploy/monitoring true: every rule
// is complete, and every metric an expression names is one a service
// registers (by name, in its Go source).
func TestAlertsUseTheServicesMetrics(t *testing.T) {
	raw, err := os.ReadFile("monitoring/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rule struct {
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
	if err := yaml.UnmarshalStrict(raw, &rule); err != nil || rule.Kind != "PrometheusRule" || rule.APIVersion != "monitoring.coreos.com/v1" {
		t.Fatalf("alerts.yaml: %v (kind %q)", err, rule.Kind)
	}
	var source strings.Builder
	for _, dir := range []string{"../services"} {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				b, _ := os.ReadFile(p)
				source.Write(b)
			}
			return nil
		})
	}
	metric := regexp.MustCompile(`([a-z_]+)\{`)
	n := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			n++
			if r.Alert == "" || r.Expr == "" || r.For == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q is incomplete", r.Alert)
			}
			names := metric.FindAllStringSubmatch(r.Expr, -1)
			if len(names) == 0 {
				t.Errorf("rule %s names no metric: %s", r.Alert, r.Expr)
			}
			for _, m := range names {
				if !strings.Contains(source.String(), `"`+m[1]+`"`) {
					t.Errorf("rule %s: no service registers the metric %s", r.Alert, m[1])
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no alerts")
	}
}
