package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// ScrapeEnv names a directory of Prometheus expositions (one <process>.prom
// file per process, as served at /metrics) to check the monitoring
// queries against instead of docs/metrics.md. sim/e2e's
// TestMetricsCoverDashboardAndAlerts writes one after an end-to-end run and
// runs TestMonitoringQueries with it.
const ScrapeEnv = "O365GW_METRICS_SCRAPE"

// targetLabels are added by Prometheus (the scrape target and its
// discovery), never by the services: queries may use them freely.
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "container", "endpoint"}

// catalog is what a query may select: series names (a histogram's
// _bucket, _sum and _count) with the labels each carries.
type catalog struct {
	source string
	series map[string]map[string]bool
}

func (c *catalog) add(name string, labelNames ...string) {
	if c.series[name] == nil {
		c.series[name] = map[string]bool{}
	}
	for _, l := range labelNames {
		c.series[name][l] = true
	}
}

// addFamily adds a metric family of type kind (counter, gauge, histogram,
// summary) with its labels.
func (c *catalog) addFamily(name, kind string, labelNames []string) {
	switch kind {
	case "histogram":
		c.add(name+"_bucket", append(labelNames, "le")...)
		c.add(name+"_sum", labelNames...)
		c.add(name+"_count", labelNames...)
	case "summary":
		c.add(name, append(labelNames, "quantile")...)
		c.add(name+"_sum", labelNames...)
		c.add(name+"_count", labelNames...)
	default:
		c.add(name, labelNames...)
	}
}

var (
	docRow  = regexp.MustCompile("^\\|\\s*(`[a-z_0-9]+`(?:, `[a-z_0-9]+`)*)\\s*\\|\\s*([a-z]+)\\s*\\|([^|]*)\\|")
	backtic = regexp.MustCompile("`([^`]+)`")
)

// documentedCatalog reads the metrics table of docs/metrics.md.
func documentedCatalog(t *testing.T) *catalog {
	t.Helper()
	raw, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	c := &catalog{source: "docs/metrics.md", series: map[string]map[string]bool{}}
	for _, line := range strings.Split(string(raw), "\n") {
		m := docRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		var labelNames []string
		for _, l := range backtic.FindAllStringSubmatch(m[3], -1) {
			labelNames = append(labelNames, l[1])
		}
		for _, n := range backtic.FindAllStringSubmatch(m[1], -1) {
			c.addFamily(n[1], m[2], labelNames)
		}
	}
	if len(c.series) < 20 {
		t.Fatalf("docs/metrics.md documents only %d series", len(c.series))
	}
	return c
}

// scrapedCatalog reads every *.prom exposition of dir.
func scrapedCatalog(t *testing.T, dir string) *catalog {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.prom"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no *.prom exposition in %s (%v)", dir, err)
	}
	c := &catalog{source: "the scrape of " + dir, series: map[string]map[string]bool{}}
	for _, f := range files {
		in, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		text := expfmt.NewTextParser(model.LegacyValidation)
		families, err := text.TextToMetricFamilies(in)
		in.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, fam := range families {
			kind := strings.ToLower(fam.GetType().String())
			seen := map[string]bool{}
			for _, m := range fam.GetMetric() {
				for _, lp := range m.GetLabel() {
					seen[lp.GetName()] = true
				}
			}
			if len(fam.GetMetric()) == 0 {
				continue
			}
			var names []string
			for l := range seen {
				names = append(names, l)
			}
			c.addFamily(name, kind, names)
		}
	}
	return c
}

// query is one PromQL expression of deploy/monitoring and where it is.
type query struct{ where, expr string }

// alertQueries are the expressions of alerts.yaml.
func alertQueries(t *testing.T) []query {
	var out []query
	for _, g := range loadRules(t).Spec.Groups {
		for _, r := range g.Rules {
			out = append(out, query{"alert " + r.Alert, r.Expr})
		}
	}
	return out
}

// grafanaDashboard is the part of dashboard.json the checks read.
type grafanaDashboard struct {
	UID           string         `json:"uid"`
	Title         string         `json:"title"`
	SchemaVersion int            `json:"schemaVersion"`
	Panels        []grafanaPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name     string          `json:"name"`
			Type     string          `json:"type"`
			AllValue string          `json:"allValue"`
			Query    json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *grafanaSource  `json:"datasource"`
	GridPos    map[string]int  `json:"gridPos"`
	Panels     []grafanaPanel  `json:"panels"`
	Targets    []grafanaTarget `json:"targets"`
}

type grafanaSource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type grafanaTarget struct {
	Expr       string         `json:"expr"`
	RefID      string         `json:"refId"`
	Datasource *grafanaSource `json:"datasource"`
}

func loadDashboard(t *testing.T) grafanaDashboard {
	t.Helper()
	raw, err := os.ReadFile("monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d grafanaDashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	return d
}

// panels are the dashboard's panels, those inside collapsed rows too.
func (d grafanaDashboard) panels() []grafanaPanel {
	var out []grafanaPanel
	var walk func([]grafanaPanel)
	walk = func(ps []grafanaPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var (
	grafanaVariable = regexp.MustCompile(`\$\{(\w+)(?::\w+)?\}|\$(\w+)`)
	labelValues     = regexp.MustCompile(`^label_values\((?:(.+),\s*)?(\w+)\)$`)
)

// dashboardQueries are the expressions of the dashboard's panels and of its
// query variables (label_values(selector, label) becomes the selector),
// with Grafana's variables replaced: interval variables by 5m, the
// dashboard's own by .* (the value of All). An unknown variable is an error.
func dashboardQueries(t *testing.T, d grafanaDashboard) []query {
	declared := map[string]bool{}
	for _, v := range d.Templating.List {
		declared[v.Name] = true
	}
	expand := func(where, expr string) string {
		return grafanaVariable.ReplaceAllStringFunc(expr, func(m string) string {
			sub := grafanaVariable.FindStringSubmatch(m)
			name := sub[1] + sub[2]
			switch {
			case name == "__rate_interval" || name == "__interval" || name == "__range":
				return "5m"
			case declared[name]:
				return ".*"
			}
			t.Errorf("%s: unknown variable $%s in %s", where, name, expr)
			return m
		})
	}
	var out []query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			_ = json.Unmarshal(v.Query, &q.Query) // the older form: a plain string
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil || m[1] == "" {
			t.Errorf("variable %s: want label_values(selector, label), got %q", v.Name, q.Query)
			continue
		}
		out = append(out, query{"variable " + v.Name, expand("variable "+v.Name, m[1])})
	}
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			where := fmt.Sprintf("panel %q %s", p.Title, tg.RefID)
			out = append(out, query{where, expand(where, tg.Expr)})
		}
	}
	return out
}

// selected is a series name a query selects, with the labels it matches on.
type selected struct {
	name     string
	matchers []string
}

// inspect parses expr and returns what it selects and the labels it groups
// by (with the series the grouping applies to).
func inspect(expr string) (sel []selected, groupings map[string][]string, err error) {
	ast, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, nil, err
	}
	groupings = map[string][]string{}
	parser.Inspect(ast, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			s := selected{name: n.Name}
			for _, m := range n.LabelMatchers {
				if m.Name == labels.MetricName {
					if s.name == "" && m.Type == labels.MatchEqual {
						s.name = m.Value
					}
					continue
				}
				s.matchers = append(s.matchers, m.Name)
			}
			sel = append(sel, s)
		case *parser.AggregateExpr:
			if n.Without {
				break
			}
			var under []string
			parser.Inspect(n.Expr, func(inner parser.Node, _ []parser.Node) error {
				if vs, ok := inner.(*parser.VectorSelector); ok {
					under = append(under, vs.Name)
				}
				return nil
			})
			for _, l := range n.Grouping {
				groupings[l] = append(groupings[l], under...)
			}
		}
		return nil
	})
	return sel, groupings, nil
}

// checkQueries parses every query with Prometheus's parser and returns what
// is wrong: a query that does not parse, a series not in c, a label matched
// on or grouped by that none of its series carries.
func checkQueries(qs []query, c *catalog) []string {
	var problems []string
	for _, q := range qs {
		sel, groupings, err := inspect(q.expr)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", q.where, err))
			continue
		}
		if len(sel) == 0 {
			problems = append(problems, fmt.Sprintf("%s selects no metric: %s", q.where, q.expr))
		}
		for _, s := range sel {
			have, ok := c.series[s.name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: the metric %s is not in %s", q.where, s.name, c.source))
				continue
			}
			for _, l := range s.matchers {
				if !have[l] && !slices.Contains(targetLabels, l) {
					problems = append(problems, fmt.Sprintf("%s: %s has no label %s in %s", q.where, s.name, l, c.source))
				}
			}
		}
		for l, names := range groupings {
			if slices.Contains(targetLabels, l) {
				continue
			}
			found, known := false, false
			for _, n := range names {
				_, ok := c.series[n]
				known = known || ok
				found = found || c.series[n][l]
			}
			if known && !found { // an unknown series is reported above
				problems = append(problems, fmt.Sprintf("%s: groups by %s, which none of %v carries in %s", q.where, l, names, c.source))
			}
		}
	}
	sort.Strings(problems)
	return slices.Compact(problems) // a query may select a series twice
}

// TestMonitoringQueries parses every PromQL expression of deploy/monitoring
// (the alerts and the dashboard) with Prometheus's own parser and checks
// that each metric it selects exists, with the labels it matches on and
// groups by: in docs/metrics.md, or, with O365GW_METRICS_SCRAPE set, in the
// live expositions of the services (sim/e2e writes them).
func TestMonitoringQueries(t *testing.T) {
	c := documentedCatalog(t)
	if dir := os.Getenv(ScrapeEnv); dir != "" {
		c = scrapedCatalog(t, dir)
	}
	qs := append(alertQueries(t), dashboardQueries(t, loadDashboard(t))...)
	if len(qs) < 30 {
		t.Fatalf("only %d queries", len(qs))
	}
	for _, p := range checkQueries(qs, c) {
		t.Error(p)
	}
	t.Logf("%d queries checked against %s", len(qs), c.source)
}

// TestMonitoringQueriesCatchMistakes: the check finds a misspelt metric, a
// label the metric does not have, a grouping by a missing label and a query
// that does not parse.
func TestMonitoringQueriesCatchMistakes(t *testing.T) {
	c := &catalog{source: "test", series: map[string]map[string]bool{}}
	c.addFamily("jobs_finished_total", "counter", []string{"kind", "outcome"})
	c.addFamily("jobs_duration_seconds", "histogram", []string{"kind"})
	for expr, want := range map[string]string{
		`sum by (kind) (rate(jobs_finished_total{outcome="failed"}[5m]))`:                     "",
		`histogram_quantile(0.9, sum by (le, kind) (rate(jobs_duration_seconds_bucket[5m])))`: "",
		`sum by (namespace) (jobs_finished_total{job="tenant"})`:                              "",
		`sum(rate(jobs_finish_total[5m]))`:                                                    "the metric jobs_finish_total is not in test",
		`jobs_finished_total{state="x"}`:                                                      "has no label state",
		`sum by (state) (jobs_finished_total)`:                                                "groups by state",
		`histogram_quantile(0.9, sum by (le) (jobs_duration_seconds))`:                        "the metric jobs_duration_seconds is not in test",
		`sum(rate(jobs_finished_total[5m])`:                                                   "unclosed",
	} {
		problems := checkQueries([]query{{"q", expr}}, c)
		switch {
		case want == "" && len(problems) > 0:
			t.Errorf("%s: %v", expr, problems)
		case want != "" && (len(problems) != 1 || !strings.Contains(problems[0], want)):
			t.Errorf("%s: %v, want one problem saying %q", expr, problems, want)
		}
	}
}

// TestMetricsDocumentedAreRegistered: every metric docs/metrics.md names is
// registered by its name in the services' Go source (or comes with the
// OpenTelemetry set-up).
func TestMetricsDocumentedAreRegistered(t *testing.T) {
	var source strings.Builder
	_ = filepath.WalkDir("../services", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			b, _ := os.ReadFile(p)
			source.Write(b)
		}
		return nil
	})
	for name := range documentedCatalog(t).series {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if trimmed, ok := strings.CutSuffix(name, suffix); ok && strings.Contains(source.String(), `"`+trimmed+`"`) {
				base = trimmed
			}
		}
		if !strings.Contains(source.String(), `"`+base+`"`) {
			t.Errorf("docs/metrics.md documents %s, which no service registers", name)
		}
	}
}

// TestDashboardShape: the dashboard has an id and a title, its panels have
// unique ids and a place, and every panel and query uses the dashboard's
// Prometheus data source variable.
func TestDashboardShape(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion == 0 {
		t.Fatalf("dashboard uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	ids := map[int]bool{}
	targets := 0
	for _, p := range d.panels() {
		if p.ID == 0 || ids[p.ID] {
			t.Errorf("panel %q: id %d missing or repeated", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.Title == "" || p.GridPos["w"] == 0 || p.GridPos["h"] == 0 {
			t.Errorf("panel %d: title %q, grid position %v", p.ID, p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: data source %+v, %d queries", p.Title, p.Datasource, len(p.Targets))
		}
		for _, tg := range p.Targets {
			targets++
			if tg.Expr == "" || tg.RefID == "" || tg.Datasource == nil || tg.Datasource.UID != "${datasource}" {
				t.Errorf("panel %q: query %+v", p.Title, tg)
			}
		}
	}
	if targets < 20 {
		t.Errorf("only %d queries on the dashboard", targets)
	}
}

// TestMonitoringKustomization: kubectl apply -k deploy/monitoring creates the
// PrometheusRule and the dashboard's ConfigMap for Grafana's sidecar.
func TestMonitoringKustomization(t *testing.T) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), "monitoring")
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile("monitoring/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, r := range m.Resources() {
		kinds[r.GetKind()] = true
		if r.GetKind() != "ConfigMap" {
			continue
		}
		if r.GetName() != "o365-gateway-dashboard" || r.GetLabels()["grafana_dashboard"] != "1" || r.GetDataMap()["dashboard.json"] != string(dashboard) {
			t.Errorf("dashboard ConfigMap %s, labels %v", r.GetName(), r.GetLabels())
		}
	}
	if !kinds["PrometheusRule"] || !kinds["ConfigMap"] || len(kinds) != 2 {
		t.Errorf("deploy/monitoring renders %v, want a PrometheusRule and a ConfigMap", kinds)
	}
}
