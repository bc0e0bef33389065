package mscloud

import (
	"net/http"
	"strings"
	"sync"
)

// The simulated public DNS: TXT records published at domain apexes by the
// admin API (POST /_sim/dns) and read by Graph's domain verification. It is
// shared infrastructure behind a leaf lock: the outside world, not part of
// any Microsoft API.

// dnsZone holds the published TXT records by lower-case domain name.
type dnsZone struct {
	mu  sync.Mutex
	txt map[string][]string
}

func newDNSZone() *dnsZone { return &dnsZone{txt: map[string][]string{}} }

// publish adds txt at name (once) and returns name's records.
func (z *dnsZone) publish(name, txt string) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	found := false
	for _, v := range z.txt[name] {
		found = found || v == txt
	}
	if !found {
		z.txt[name] = append(z.txt[name], txt)
	}
	return append([]string{}, z.txt[name]...)
}

// unpublish takes txt away from name, or every record of name when txt is
// "", and returns name's records.
func (z *dnsZone) unpublish(name, txt string) []string {
	z.mu.Lock()
	defer z.mu.Unlock()
	if txt == "" {
		delete(z.txt, name)
		return []string{}
	}
	kept := []string{}
	for _, v := range z.txt[name] {
		if v != txt {
			kept = append(kept, v)
		}
	}
	z.txt[name] = kept
	return append([]string{}, kept...)
}

// has reports whether txt is published at name.
func (z *dnsZone) has(name, txt string) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	for _, v := range z.txt[name] {
		if v == txt {
			return true
		}
	}
	return false
}

// all copies every published record.
func (z *dnsZone) all() map[string][]string {
	z.mu.Lock()
	defer z.mu.Unlock()
	out := map[string][]string{}
	for k, v := range z.txt {
		out[k] = append([]string{}, v...)
	}
	return out
}

// POST /_sim/dns {"domain":"contoso.com","txt":"MS=ms12345678"} publishes a
// TXT record at the domain's apex ("txt": "" with "remove": true takes all
// of the domain's records away).
func (s *Server) adminPublishDNS(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Domain string `json:"domain"`
		TXT    string `json:"txt"`
		Remove bool   `json:"remove"`
	}
	if !decodeAdmin(w, r, &in) {
		return
	}
	name := strings.TrimSuffix(lower(in.Domain), ".")
	if !domainNameRe.MatchString(name) {
		adminError(w, http.StatusBadRequest, "domain must be a DNS name such as contoso.com")
		return
	}
	txt := strings.TrimSpace(in.TXT)
	if txt == "" && !in.Remove {
		adminError(w, http.StatusBadRequest, `txt is required (or "remove": true)`)
		return
	}
	var records []string
	if in.Remove {
		records = s.dns.unpublish(name, txt)
	} else {
		records = s.dns.publish(name, txt)
	}
	adminJSON(w, http.StatusOK, map[string]any{"domain": name, "txt": records})
}

// GET /_sim/dns lists every published record.
func (s *Server) adminListDNS(w http.ResponseWriter, _ *http.Request) {
	adminJSON(w, http.StatusOK, map[string]any{"txt": s.dns.all()})
}
