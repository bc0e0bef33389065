package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	adminv1 "github.com/o365gateway/gateway/gen/go/o365/admin/v1"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

//go:embed templates
var files embed.FS

// pageNames are the templates under templates/, each with layout.html.
var pageNames = []string{"instances", "instance", "tenant", "jobs", "job", "audit", "login", "error"}

// renderer holds the parsed pages and the stylesheet, which is inlined and
// allowed by its hash in the Content-Security-Policy (no other source is).
type renderer struct {
	pages   map[string]*template.Template
	css     template.CSS
	cssHash string
}

func newRenderer() (*renderer, error) {
	css, err := files.ReadFile("templates/style.css")
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(css)
	r := &renderer{pages: map[string]*template.Template{}, css: template.CSS(css),
		cssHash: "sha256-" + base64.StdEncoding.EncodeToString(sum[:])}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("web: template %s: %w", name, err)
		}
		r.pages[name] = t
	}
	return r, nil
}

// page is what the layout renders around a page's own data.
type page struct {
	Title    string
	Nav      string // the menu entry to highlight
	Who      string
	CSRF     string
	Logout   bool
	CSS      template.CSS
	Flash    *flash
	Problems []string // what could not be read (the page shows the rest)
	Data     any
}

// render writes a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name, title, nav string, data any, problems ...string) {
	p := page{Title: title, Nav: nav, Who: Who(r.Context()), CSRF: csrfToken(w, r), Logout: h.access.Token != nil && Who(r.Context()) != "",
		CSS: h.pages.css, Flash: takeFlash(w, r), Problems: problems, Data: data}
	var buf bytes.Buffer
	if err := h.pages.pages[name].Execute(&buf, p); err != nil {
		h.log.Error("console page failed to render", "page", name, "error", err.Error())
		http.Error(w, "The page failed to render; see the console's log.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers an error page.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	h.render(w, r, status, "error", http.StatusText(status), "", msg)
}

var funcs = template.FuncMap{
	"when":       when,
	"ago":        ago,
	"path":       pathOf,
	"detail":     detail,
	"details":    details,
	"reason":     reason,
	"badge":      badge,
	"canRetry":   canRetry,
	"canCancel":  canCancel,
	"superseded": superseded,
	"joblink":    jobLink,
	"attempts":   func(j *adminv1.Job) string { return fmt.Sprintf("%d/%d", j.GetAttempt(), j.GetMaxAttempts()) },
	"resource": func(r *adminv1.AuditResource) string {
		if r == nil {
			return ""
		}
		return strings.TrimSpace(r.GetType() + " " + r.GetId())
	},
	"json": func(s *structpb.Struct) string {
		if s == nil {
			return ""
		}
		b, err := s.MarshalJSON()
		if err != nil {
			return ""
		}
		return string(b)
	},
}

// when renders a time for a person ("" when unset).
func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format("2006-01-02 15:04:05Z")
}

// ago renders how long ago (or in how long) a time is.
func ago(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	d := time.Since(t.AsTime())
	suffix := " ago"
	if d < 0 {
		d, suffix = -d, " from now"
	}
	switch {
	case d < time.Minute:
		return d.Round(time.Second).String() + suffix
	case d < time.Hour:
		return d.Round(time.Minute).String() + suffix
	case d < 48*time.Hour:
		return d.Round(time.Hour).String() + suffix
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days" + suffix
}

// pathOf joins path segments, each escaped: path "instances" .Id.
func pathOf(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("/")
		b.WriteString(url.PathEscape(fmt.Sprint(p)))
	}
	return b.String()
}

// detail is one of a resource's details as text.
func detail(r *adminv1.Resource, key string) string {
	v, ok := r.GetDetails().GetFields()[key]
	if !ok {
		return ""
	}
	return valueText(v)
}

func valueText(v *structpb.Value) string {
	switch x := v.AsInterface().(type) {
	case nil:
		return ""
	case string:
		return x
	case bool:
		if x {
			return "yes"
		}
		return "no"
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e15 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'g', -1, 64)
	default:
		b, err := v.MarshalJSON()
		if err != nil {
			return fmt.Sprint(x)
		}
		return string(b)
	}
}

type kv struct{ Key, Value string }

// details are a resource's details, sorted, without empty ones.
func details(s *structpb.Struct) []kv {
	var out []kv
	for k, v := range s.GetFields() {
		if t := valueText(v); t != "" {
			out = append(out, kv{strings.ReplaceAll(k, "_", " "), t})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// reason is why a job failed or is being retried: its operation's failure
// (the APS reason and what the platform was told) or its last error.
func reason(j *adminv1.Job) string {
	if o := j.GetOperation(); o != nil && o.GetFailureReason() != "" && j.GetState() == "failed" {
		return strings.TrimSuffix(o.GetFailureReason()+": "+o.GetFailureMessage(), ": ")
	}
	return j.GetLastError()
}

// badge is the CSS class of a state.
func badge(state string) string {
	switch state {
	case "ok", "active", "done", "provisioned", "enabled":
		return "ok"
	case "failed", "expired", "invalid", "unavailable", "error":
		return "bad"
	case "expiring", "pending", "pending_approval", "suspended", "checking":
		return "warn"
	case "running", "creating", "deleting", "updating":
		return "run"
	}
	return ""
}

// canRetry: a failed job whose resource's operation (if it has one) still
// failed; after a retry the operation runs again and the old job is done with.
func canRetry(j *adminv1.Job) bool {
	if j.GetState() != "failed" {
		return false
	}
	o := j.GetOperation()
	return o == nil || o.GetState() == "failed"
}

// canCancel: a pending job, or a running resource's operation (refused by
// the service once Microsoft may have acted).
func canCancel(j *adminv1.Job) bool {
	return j.GetState() == "pending" || j.GetState() == "running" && j.GetOperation() != nil
}

// jobLink is the page of a job; it names the job's instance, which an
// identity limited to some instances must give the service.
func jobLink(j opsclient.Job) string {
	p := pathOf("jobs", j.Service, j.GetId())
	if j.GetInstanceId() != "" {
		p += "?instance=" + url.QueryEscape(j.GetInstanceId())
	}
	return p
}

// superseded says what became of a failed job's resource operation since.
func superseded(j *adminv1.Job) string {
	o := j.GetOperation()
	if j.GetState() != "failed" || o == nil || o.GetState() == "failed" {
		return ""
	}
	return fmt.Sprintf("since retried: the %s %s is %s (attempt %d)", j.GetResource().GetType(), o.GetName(), o.GetState(), o.GetAttempt())
}
