package deploy

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The namespace labels the operator sets (deploy/README.md, "Network"):
// on Prometheus's namespace, on the database's and on the trace collector's.
const (
	prometheusLabel = "o365-gateway/prometheus"
	databaseLabel   = "o365-gateway/database"
	telemetryLabel  = "o365-gateway/telemetry"
)

// nameLabel is the label Kubernetes gives every namespace, its name.
const nameLabel = "kubernetes.io/metadata.name"

// callsMicrosoft are the Deployments that call Entra, Partner Center and
// Graph (HTTPS outside the cluster); callsAPSC those that call the APS
// controller back (port 6308, usually).
var (
	callsMicrosoft = []string{"tenant", "subscription", "user"}
	callsAPSC      = []string{"tenant"}
)

// Addresses outside the cluster: a public one (documentation range) and one
// of each private range, where the cluster's pods and Services are.
var (
	publicAddress    = "203.0.113.10"
	privateAddresses = []string{"10.1.2.3", "172.20.0.5", "192.168.1.10"}
)

// endpoint is one end of a connection: a pod (its labels and its
// namespace's) or an address outside the cluster.
type endpoint struct {
	name      string
	pod       labels.Set // nil outside the cluster
	namespace labels.Set
	ip        net.IP // outside the cluster only
}

func outside(ip string) endpoint {
	return endpoint{name: "address " + ip + " outside the cluster", ip: net.ParseIP(ip)}
}

func podIn(name string, namespace labels.Set) endpoint {
	return endpoint{name: name, pod: labels.Set{"app.kubernetes.io/name": strings.Fields(name)[0]}, namespace: namespace}
}

// checkNetwork requires a default-deny NetworkPolicy and a policy of its
// own for every Deployment, then evaluates the policies as the cluster
// would: exactly the flows the gateway needs are allowed, both ways.
func (r *rendered) checkNetwork() {
	if len(r.namespaces) != 1 {
		return // reported by checkNamespace
	}
	ns := labels.Merge(r.namespaces[0].Labels, labels.Set{nameLabel: r.namespaces[0].Name})
	defaultDeny := false
	for _, p := range r.policies {
		where := "NetworkPolicy " + p.Name
		types := p.Spec.PolicyTypes
		if !slices.Contains(types, networkingv1.PolicyTypeIngress) && !slices.Contains(types, networkingv1.PolicyTypeEgress) {
			r.errorf("%s: policyTypes must be explicit (Ingress, Egress or both)", where)
		}
		if isEmpty(p.Spec.PodSelector) && len(p.Spec.Ingress) == 0 && len(p.Spec.Egress) == 0 &&
			slices.Contains(types, networkingv1.PolicyTypeIngress) && slices.Contains(types, networkingv1.PolicyTypeEgress) {
			defaultDeny = true
		}
		var ports []networkingv1.NetworkPolicyPort
		for _, rule := range p.Spec.Ingress {
			ports = append(ports, rule.Ports...)
		}
		for _, rule := range p.Spec.Egress {
			ports = append(ports, rule.Ports...)
		}
		for _, port := range ports {
			if port.Port != nil && port.Port.Type == intstr.String {
				r.errorf("%s: port %q: name ports by number (an egress rule's port name is the destination's, which may be outside the cluster)", where, port.Port.StrVal)
			}
		}
		if _, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector); err != nil {
			r.errorf("%s: podSelector: %v", where, err)
		}
	}
	if !defaultDeny {
		r.errorf("no default-deny NetworkPolicy (podSelector {}, policyTypes [Ingress, Egress], no rules)")
	}
	pods := map[string]endpoint{}
	for _, d := range r.deployments {
		pods[d.Name] = endpoint{name: d.Name, pod: labels.Set(d.Spec.Template.Labels), namespace: ns}
		if !slices.ContainsFunc(r.policies, func(p networkingv1.NetworkPolicy) bool {
			return !isEmpty(p.Spec.PodSelector) && selects(&p.Spec.PodSelector, pods[d.Name].pod)
		}) {
			r.errorf("Deployment %s: no NetworkPolicy of its own (with a podSelector) selects it", d.Name)
		}
	}

	// Between the Deployments: exactly the dns:/// targets they dial, but
	// for the public Services' ports, open to every source.
	dials, public := r.dials(), r.publicPorts()
	for _, a := range r.deployments {
		for _, b := range r.deployments {
			for _, port := range containerPorts(b) {
				if public[b.Name+":"+strconv.Itoa(int(port))] {
					continue
				}
				r.expect(pods[a.Name], pods[b.Name], port, corev1.ProtocolTCP, dials[a.Name+" "+b.Name+":"+strconv.Itoa(int(port))])
			}
		}
	}
	prometheus := podIn("prometheus (namespace labelled "+prometheusLabel+")", labels.Set{prometheusLabel: "true", nameLabel: "monitoring"})
	stranger := podIn("other (a pod of another namespace)", labels.Set{nameLabel: "elsewhere"})
	dns := endpoint{name: "kube-dns", pod: labels.Set{"k8s-app": "kube-dns"}, namespace: labels.Set{nameLabel: "kube-system"}}
	database := podIn("postgresql (namespace labelled "+databaseLabel+")", labels.Set{databaseLabel: "true", nameLabel: "databases"})
	collector := podIn("collector (namespace labelled "+telemetryLabel+")", labels.Set{telemetryLabel: "true", nameLabel: "observability"})
	for _, d := range r.deployments {
		pod := pods[d.Name]
		// From outside: the public ports (APSC calls the facade), nothing else.
		for _, port := range containerPorts(d) {
			isPublic := public[d.Name+":"+strconv.Itoa(int(port))]
			r.expect(outside(publicAddress), pod, port, corev1.ProtocolTCP, isPublic)
			r.expect(stranger, pod, port, corev1.ProtocolTCP, isPublic)
		}
		if admin := containerPort(d.Spec.Template.Spec.Containers[0], "admin"); admin != 0 {
			r.expect(prometheus, pod, admin, corev1.ProtocolTCP, true)
		}
		r.expect(pod, dns, 53, corev1.ProtocolUDP, true)
		r.expect(pod, dns, 53, corev1.ProtocolTCP, true)
		r.expect(pod, collector, 4317, corev1.ProtocolTCP, true)
		_, hasDatabase := r.databaseURL(d)
		r.expect(pod, database, 5432, corev1.ProtocolTCP, hasDatabase)
		r.expect(pod, outside(publicAddress), 443, corev1.ProtocolTCP, slices.Contains(callsMicrosoft, d.Name))
		r.expect(pod, outside(publicAddress), 6308, corev1.ProtocolTCP, slices.Contains(callsAPSC, d.Name))
		r.expect(pod, outside(publicAddress), 80, corev1.ProtocolTCP, false)
		r.expect(pod, outside(publicAddress), 5432, corev1.ProtocolTCP, false)
		for _, ip := range privateAddresses {
			r.expect(pod, outside(ip), 443, corev1.ProtocolTCP, false)
			r.expect(pod, outside(ip), 6308, corev1.ProtocolTCP, false)
		}
		r.expect(pod, stranger, 443, corev1.ProtocolTCP, false)
	}
}

// expect reports a flow that the policies allow and should not, or the
// other way round.
func (r *rendered) expect(from, to endpoint, port int32, proto corev1.Protocol, want bool) {
	got := r.permits(from, to, port, proto, networkingv1.PolicyTypeEgress) && r.permits(to, from, port, proto, networkingv1.PolicyTypeIngress)
	switch {
	case want && !got:
		r.errorf("network: %s cannot reach %s on %d/%s, which it needs", from.name, to.name, port, proto)
	case !want && got:
		r.errorf("network: %s may reach %s on %d/%s, which it has no need of", from.name, to.name, port, proto)
	}
}

// permits tells whether the policies of self's namespace let self send to
// (Egress) or receive from (Ingress) peer on port. A pod of another
// namespace, or an address outside the cluster, is not theirs to judge.
func (r *rendered) permits(self, peer endpoint, port int32, proto corev1.Protocol, dir networkingv1.PolicyType) bool {
	if self.pod == nil || len(r.namespaces) != 1 || self.namespace[nameLabel] != r.namespaces[0].Name {
		return true
	}
	selected := false
	for _, p := range r.policies {
		if !slices.Contains(p.Spec.PolicyTypes, dir) || !selects(&p.Spec.PodSelector, self.pod) {
			continue
		}
		selected = true
		if dir == networkingv1.PolicyTypeIngress {
			for _, rule := range p.Spec.Ingress {
				if portMatches(rule.Ports, port, proto) && peerMatches(p.Namespace, rule.From, peer) {
					return true
				}
			}
		} else {
			for _, rule := range p.Spec.Egress {
				if portMatches(rule.Ports, port, proto) && peerMatches(p.Namespace, rule.To, peer) {
					return true
				}
			}
		}
	}
	return !selected
}

func portMatches(ports []networkingv1.NetworkPolicyPort, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pr := corev1.ProtocolTCP
		if p.Protocol != nil {
			pr = *p.Protocol
		}
		switch {
		case pr != proto:
		case p.Port == nil:
			return true
		case p.Port.Type == intstr.String: // reported by checkNetwork
		case p.EndPort != nil:
			if port >= p.Port.IntVal && port <= *p.EndPort {
				return true
			}
		case p.Port.IntVal == port:
			return true
		}
	}
	return false
}

// peerMatches tells whether one of peers is e; no peers is every source
// or destination. A podSelector alone means the policy's namespace; an
// ipBlock matches addresses outside the cluster only (what it does to pod
// addresses depends on the network plugin).
func peerMatches(namespace string, peers []networkingv1.NetworkPolicyPeer, e endpoint) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			if e.ip != nil && inBlock(p.IPBlock, e.ip) {
				return true
			}
			continue
		}
		if e.pod == nil {
			continue
		}
		nsOK := e.namespace[nameLabel] == namespace
		if p.NamespaceSelector != nil {
			nsOK = selects(p.NamespaceSelector, e.namespace)
		}
		if nsOK && (p.PodSelector == nil || selects(p.PodSelector, e.pod)) {
			return true
		}
	}
	return false
}

func inBlock(b *networkingv1.IPBlock, ip net.IP) bool {
	_, cidr, err := net.ParseCIDR(b.CIDR)
	if err != nil || !cidr.Contains(ip) {
		return false
	}
	for _, ex := range b.Except {
		if _, n, err := net.ParseCIDR(ex); err == nil && n.Contains(ip) {
			return false
		}
	}
	return true
}

func selects(sel *metav1.LabelSelector, set labels.Set) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(set)
}

func isEmpty(sel metav1.LabelSelector) bool {
	return len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0
}

func containerPorts(d appsv1.Deployment) []int32 {
	var out []int32
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			out = append(out, p.ContainerPort)
		}
	}
	return out
}

// dials are the connections that the Deployments' *_TENANT_ADDR,
// *_SUBSCRIPTION_ADDR and *_USER_ADDR make, as
// "<from> <to>:<container port>".
func (r *rendered) dials() map[string]bool {
	out := map[string]bool{}
	for _, d := range r.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if !slices.Contains([]string{"TENANT", "SUBSCRIPTION", "USER"}, strings.TrimSuffix(strings.TrimPrefix(e.Name, strings.ToUpper(c.Name)+"_"), "_ADDR")) {
					continue
				}
				host, port, err := net.SplitHostPort(strings.TrimPrefix(e.Value, "dns:///"))
				if err != nil {
					continue // reported by checkTarget
				}
				if to, cport := r.serviceTarget(host, port); to != "" {
					out[d.Name+" "+to+":"+strconv.Itoa(int(cport))] = true
				}
			}
		}
	}
	return out
}

// publicPorts are the container ports the public Services target, as
// "<deployment>:<port>": open to every source.
func (r *rendered) publicPorts() map[string]bool {
	out := map[string]bool{}
	for _, s := range r.services {
		if !slices.Contains(publicServices, s.Name) {
			continue
		}
		for _, p := range s.Spec.Ports {
			if to, cport := r.serviceTarget(s.Name, strconv.Itoa(int(p.Port))); to != "" {
				out[to+":"+strconv.Itoa(int(cport))] = true
			}
		}
	}
	return out
}

// serviceTarget is the Deployment and container port behind port of the
// Service named host ("" when there is none).
func (r *rendered) serviceTarget(host, port string) (string, int32) {
	for _, s := range r.services {
		if s.Name != host {
			continue
		}
		for _, p := range s.Spec.Ports {
			if strconv.Itoa(int(p.Port)) != port {
				continue
			}
			for _, d := range r.deployments {
				if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || len(d.Spec.Template.Spec.Containers) == 0 {
					continue
				}
				target := p.TargetPort
				if target.Type == intstr.String {
					return d.Name, containerPort(d.Spec.Template.Spec.Containers[0], target.StrVal)
				}
				if target.IntVal == 0 {
					return d.Name, p.Port
				}
				return d.Name, target.IntVal
			}
		}
	}
	return "", 0
}

// databaseURL is the Deployment's *_DATABASE_URL, if it has one.
func (r *rendered) databaseURL(d appsv1.Deployment) (corev1.EnvVar, bool) {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			if e.Name == fmt.Sprintf("%s_DATABASE_URL", strings.ToUpper(c.Name)) {
				return e, true
			}
		}
	}
	return corev1.EnvVar{}, false
}
