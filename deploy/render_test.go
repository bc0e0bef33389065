package deploy

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// clouds are the overlays; each deploys the gateway for one Microsoft cloud.
var clouds = []string{"global", "china", "usgov"}

// operatorSecrets are the Secrets the operator creates in each namespace
// (deploy/README.md says how); the manifests reference no others but those
// cert-manager writes for the Certificates.
var operatorSecrets = []string{"gateway-database", "gateway-encryption-key", "gateway-audit-keys", "facade-tls", "gateway-ca"}

// publicServices are the Services that are not balanced on the client and
// so may have a cluster IP: the facade's is the gateway's entry point.
var publicServices = []string{"facade"}

func TestOverlays(t *testing.T) {
	release, documented := releaseTag(t), documentedVariables(t)
	for _, cloud := range clouds {
		t.Run(cloud, func(t *testing.T) {
			r, err := render(filesys.MakeFsOnDisk(), filepath.Join("overlays", cloud), cloud)
			if err != nil {
				t.Fatal(err)
			}
			r.check(release, documented)
			for _, p := range r.problems {
				t.Error(p)
			}
			if len(r.deployments) != 4 {
				t.Errorf("want 4 Deployments (tenant, subscription, user, facade), got %d", len(r.deployments))
			}
		})
	}
}

// TestRulesCatchBrokenOverlays renders the global overlay with one rule
// broken at a time and expects the checks (or the strict decoding) to say so.
func TestRulesCatchBrokenOverlays(t *testing.T) {
	release, documented := releaseTag(t), documentedVariables(t)
	// A copy of base/ and overlays/ in memory, with the broken overlay
	// beside them.
	disk, mem := filesys.MakeFsOnDisk(), filesys.MakeFsInMemory()
	for _, dir := range []string{"base", "overlays"} {
		err := disk.Walk(dir, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return err
			}
			raw, err := disk.ReadFile(path)
			if err != nil {
				return err
			}
			return mem.WriteFile(filepath.Join("/deploy", path), raw)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	jsonPatch := func(kind, name, ops string) string {
		return fmt.Sprintf("patches:\n  - target: {kind: %s, name: %s}\n    patch: '%s'\n", kind, name, ops)
	}
	deletePolicy := func(name string) string {
		return "  - patch: '{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: " + name + "}, $patch: delete}'\n"
	}
	container := func(deployment, fields string) string {
		return "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: " + deployment +
			"}\n      spec: {template: {spec: {containers: [{name: " + deployment + ", " + fields + "}]}}}\n"
	}
	cases := []struct{ name, kustomization, want string }{
		{"one replica", jsonPatch("Deployment", "tenant", `[{"op": "replace", "path": "/spec/replicas", "value": 1}]`), "Deployment tenant: replicas must be at least 2"},
		{"latest", "images: [{name: o365gateway/user, newTag: latest}]\n", "image \"o365gateway/user:latest\" is tagged latest"},
		{"untagged", "images: [{name: o365gateway/user, newName: registry.example/user}]\n", "image \"registry.example/user:v"},
		{"no liveness probe", jsonPatch("Deployment", "facade", `[{"op": "remove", "path": "/spec/template/spec/containers/0/livenessProbe"}]`), "container facade: no liveness probe"},
		{"gRPC probe", jsonPatch("Deployment", "user", `[{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe", "value": {"grpc": {"port": 9003}}}]`), "the readiness probe must be an HTTP GET on the admin port"},
		{"probe on the APS port", jsonPatch("Deployment", "facade", `[{"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet", "value": {"path": "/healthz", "port": "https", "scheme": "HTTPS"}}]`), "the liveness probe asks port https, not the admin port"},
		{"liveness on /readyz", jsonPatch("Deployment", "tenant", `[{"op": "replace", "path": "/spec/template/spec/containers/0/livenessProbe/httpGet/path", "value": "/readyz"}]`), "the liveness probe asks \"/readyz\", want /healthz"},
		{"no limits", jsonPatch("Deployment", "subscription", `[{"op": "remove", "path": "/spec/template/spec/containers/0/resources/limits"}]`), "container subscription: cpu needs a request and a limit"},
		{"writable root", container("tenant", "securityContext: {readOnlyRootFilesystem: false}"), "readOnlyRootFilesystem must be true"},
		{"a capability", container("facade", "securityContext: {capabilities: {add: [NET_ADMIN]}}"), "capabilities must drop ALL"},
		{"escalation", container("user", "securityContext: {allowPrivilegeEscalation: true}"), "allowPrivilegeEscalation must be false"},
		{"root", jsonPatch("Deployment", "tenant", `[{"op": "replace", "path": "/spec/template/spec/securityContext/runAsUser", "value": 0}]`), "runs as uid 0"},
		{"no seccomp", jsonPatch("Deployment", "tenant", `[{"op": "remove", "path": "/spec/template/spec/securityContext/seccompProfile"}, {"op": "remove", "path": "/spec/template/spec/containers/0/securityContext/seccompProfile"}]`), "seccompProfile must be RuntimeDefault"},
		{"not headless", jsonPatch("Service", "tenant", `[{"op": "remove", "path": "/spec/clusterIP"}]`), "Service tenant must be headless"},
		{"no PDB", "patches:\n  - patch: '{apiVersion: policy/v1, kind: PodDisruptionBudget, metadata: {name: user}, $patch: delete}'\n", "Deployment user: 0 PodDisruptionBudgets"},
		{"database URL in the manifest", container("tenant", "env: [{name: TENANT_DATABASE_URL, value: 'postgres://u:p@db/gw', valueFrom: null}]"), "TENANT_DATABASE_URL must come from the gateway-database Secret"},
		{"no cloud", jsonPatch("Deployment", "user", `[{"op": "remove", "path": "/spec/template/spec/containers/0/env/0"}]`), "USER_CLOUD must come from the overlay's ConfigMap"},
		{"one address", container("facade", "env: [{name: FACADE_TENANT_ADDR, value: 'tenant:9001'}]"), "\"tenant:9001\" is not a dns:/// target"},
		{"misspelled variable", container("tenant", "env: [{name: TENANT_METRIC_ADDR, value: ':9090'}]"), "TENANT_METRIC_ADDR is not a documented"},
		{"undocumented Secret", container("user", "env: [{name: USER_ENCRYPTION_KEY, valueFrom: {secretKeyRef: {name: user-key, key: k}}}]"), "Secret \"user-key\" is not one of the documented"},
		{"admin port", container("subscription", "env: [{name: SUBSCRIPTION_ADMIN_ADDR, value: ':9100'}]"), "*_ADMIN_ADDR \":9100\" disagree"},
		{"metrics address", container("user", "env: [{name: USER_METRICS_ADDR, value: ':9090'}]"), "USER_METRICS_ADDR no longer exists"},
		{"admin port exposed", jsonPatch("Service", "facade", `[{"op": "add", "path": "/spec/ports/-", "value": {"name": "admin", "port": 9090, "targetPort": "admin"}}]`), "Service facade exposes the admin port"},
		{"scraped over HTTPS", jsonPatch("Deployment", "facade", `[{"op": "add", "path": "/spec/template/metadata/annotations/prometheus.io~1scheme", "value": "https"}]`), "prometheus.io/scheme https"},
		{"plaintext", container("tenant", "env: [{name: TENANT_INSECURE_PLAINTEXT, value: 'true'}]"), "TENANT_INSECURE_PLAINTEXT must not be set"},
		{"reflection", container("subscription", "env: [{name: SUBSCRIPTION_GRPC_REFLECTION, value: 'true'}]"), "reflection stays off"},
		{"no mutual TLS", container("facade", "env: [{name: FACADE_MTLS_CERT_FILE, $patch: delete}]"), "FACADE_MTLS_CA_FILE, FACADE_MTLS_CERT_FILE, FACADE_MTLS_KEY_FILE and FACADE_TRUST_DOMAIN must be set"},
		{"no certificate mounted", jsonPatch("Deployment", "tenant", `[{"op": "remove", "path": "/spec/template/spec/containers/0/volumeMounts/1"}]`), "no volume is mounted at /mtls"},
		{"certificate by subPath", container("user", "volumeMounts: [{name: mtls, mountPath: /mtls, subPath: tls.crt}]"), "mounted with a subPath"},
		{"another trust domain", container("user", "env: [{name: USER_TRUST_DOMAIN, value: example.org}]"), "Certificate user: uris [spiffe://o365gw.local/user], want [spiffe://example.org/user]"},
		{"wrong identity", jsonPatch("Certificate", "subscription", `[{"op": "replace", "path": "/spec/uris/0", "value": "spiffe://o365gw.local/tenant"}]`), "Certificate subscription: uris [spiffe://o365gw.local/tenant], want [spiffe://o365gw.local/subscription]"},
		{"no client auth", jsonPatch("Certificate", "facade", `[{"op": "remove", "path": "/spec/usages/1"}]`), "lack \"client auth\""},
		{"misspelled usage", jsonPatch("Certificate", "facade", `[{"op": "replace", "path": "/spec/usages/0", "value": "serverAuth"}]`), "usage \"serverAuth\" is not one cert-manager knows"},
		{"long-lived certificate", jsonPatch("Certificate", "user", `[{"op": "replace", "path": "/spec/duration", "value": "8760h"}]`), "duration 8760h0m0s is longer than"},
		{"cluster issuer", jsonPatch("Certificate", "tenant", `[{"op": "replace", "path": "/spec/issuerRef/kind", "value": "ClusterIssuer"}]`), "is not an Issuer of the namespace"},
		{"unknown Certificate field", jsonPatch("Certificate", "tenant", `[{"op": "add", "path": "/spec/dnsNames", "value": ["tenant"]}]`), "unknown field \"spec.dnsNames\""},
		{"mis-cased Certificate field", jsonPatch("Certificate", "tenant", `[{"op": "move", "from": "/spec/renewBefore", "path": "/spec/renewbefore"}]`), "unknown field \"spec.renewbefore\""},
		{"a tool's certificate in the manifests", "resources: [../overlays/global, tool.yaml]\n", "Certificate alice: its Secret tool-alice is mounted by 0 Deployments"},
		{"a service's rule in the policy file", "configMapGenerator:\n  - name: gateway-authz\n    behavior: replace\n    literals: ['policy.json={\"rules\": [{\"identity\": \"facade\", \"methods\": [\"*\"], \"instances\": [\"*\"]}]}']\n", "\"facade\" is not an operator's tool"},
		{"no policy file", container("user", "env: [{name: USER_AUTHZ_POLICY_FILE, $patch: delete}]"), "no USER_AUTHZ_POLICY_FILE"},
		{"no default deny", "patches:\n  - patch: '{apiVersion: networking.k8s.io/v1, kind: NetworkPolicy, metadata: {name: default-deny}, $patch: delete}'\n", "no default-deny NetworkPolicy"},
		{"no policy of its own", "patches:\n" + deletePolicy("subscription") + deletePolicy("database") + deletePolicy("microsoft"), "Deployment subscription: no NetworkPolicy of its own"},
		{"no policy for a service", "patches:\n" + deletePolicy("subscription"), "facade cannot reach subscription on 9002/TCP, which it needs"},
		{"a flow too many", jsonPatch("NetworkPolicy", "user", `[{"op": "add", "path": "/spec/ingress/0/from/0/podSelector/matchExpressions/0/values/-", "value": "subscription"}]`) +
			strings.TrimPrefix(jsonPatch("NetworkPolicy", "subscription", `[{"op": "add", "path": "/spec/egress/-", "value": {"to": [{"podSelector": {}}], "ports": [{"port": 9003}]}}]`), "patches:\n"),
			"subscription may reach user on 9003/TCP, which it has no need of"},
		{"a flow missing", jsonPatch("NetworkPolicy", "tenant", `[{"op": "remove", "path": "/spec/egress/0"}]`), "tenant cannot reach user on 9003/TCP, which it needs"},
		{"egress to the cluster's ranges", jsonPatch("NetworkPolicy", "microsoft", `[{"op": "remove", "path": "/spec/egress/0/to/0/ipBlock/except"}]`), "may reach address 10.1.2.3 outside the cluster on 443/TCP"},
		{"the facade to Microsoft", jsonPatch("NetworkPolicy", "microsoft", `[{"op": "add", "path": "/spec/podSelector/matchExpressions/0/values/-", "value": "facade"}]`), "facade may reach address 203.0.113.10 outside the cluster on 443/TCP"},
		{"admin port open", jsonPatch("NetworkPolicy", "every-pod", `[{"op": "remove", "path": "/spec/ingress/0/from"}]`), "other (a pod of another namespace) may reach tenant on 9090/TCP"},
		{"no DNS", jsonPatch("NetworkPolicy", "every-pod", `[{"op": "remove", "path": "/spec/egress/0"}]`), "facade cannot reach kube-dns on 53/UDP"},
		{"a named policy port", jsonPatch("NetworkPolicy", "tenant", `[{"op": "replace", "path": "/spec/ingress/0/ports/0/port", "value": "grpc"}]`), "port \"grpc\": name ports by number"},
		{"unknown field", jsonPatch("Deployment", "facade", `[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/readonlyRootFilesystem", "value": true}]`), "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n" + tc.kustomization
			if !strings.HasPrefix(tc.kustomization, "resources:") {
				k = strings.Replace(k, "Kustomization\n", "Kustomization\nresources: [../overlays/global]\n", 1)
			}
			if err := mem.WriteFile("/deploy/broken/kustomization.yaml", []byte(k)); err != nil {
				t.Fatal(err)
			}
			if err := mem.WriteFile("/deploy/broken/tool.yaml", []byte(toolCertificate)); err != nil {
				t.Fatal(err)
			}
			r, err := render(mem, "/deploy/broken", "global")
			var got []string
			if err != nil {
				got = []string{err.Error()}
			} else {
				r.check(release, documented)
				got = r.problems
			}
			for _, p := range got {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem says %q; got:\n%s", tc.want, strings.Join(got, "\n"))
		})
	}
}

// toolCertificate is an operator's tool certificate as deploy/README.md
// shows it; it belongs in no overlay.
const toolCertificate = `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: alice}
spec:
  secretName: tool-alice
  issuerRef: {group: cert-manager.io, kind: Issuer, name: gateway-ca}
  uris: ["spiffe://o365gw.local/tool/alice"]
  usages: [client auth, digital signature, key encipherment]
  duration: 8h
  renewBefore: 2h
  privateKey: {algorithm: RSA, size: 2048, rotationPolicy: Always}
`

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	for _, doc := range []string{
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replica: 2\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  Replicas: 2\n",
		"apiVersion: apps/v1\nkind: Deployment\nspec:\n  replicas: 2\n  replicas: 3\n",
	} {
		if _, _, err := strictDecoder.Decode([]byte(doc), nil, nil); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
	var c certificate
	if err := decodeStrict([]byte(toolCertificate), &c); err != nil || c.Spec.URIs[0] != "spiffe://o365gw.local/tool/alice" {
		t.Fatalf("the tool's Certificate: %v, %+v", err, c)
	}
	for _, doc := range []string{
		"apiVersion: cert-manager.io/v1\nkind: Certificate\nspec:\n  uri: [x]\n",
		"apiVersion: cert-manager.io/v1\nkind: Certificate\nspec:\n  URIs: [x]\n",
		"apiVersion: cert-manager.io/v1\nkind: Certificate\nspec:\n  duration: 1h\n  duration: 2h\n",
		"apiVersion: cert-manager.io/v1\nkind: Issuer\nspec:\n  selfSigned: {}\n",
	} {
		if err := decodeStrict([]byte(doc), &c); err == nil {
			t.Errorf("accepted:\n%s", doc)
		}
	}
}

// TestPolicyFileShape keeps checkPolicyFile reading policies as the
// services do.
func TestPolicyFileShape(t *testing.T) {
	for raw, ok := range map[string]bool{
		`{"rules": []}`: true,
		`{"rules": [{"identity": "tool/alice", "methods": ["/o365.tenant.v1.TenantService/*"], "instances": ["*"]}]}`: true,
		`{"rules": [{"identity": "spiffe://o365gw.local/tool/bob", "methods": ["*"], "instances": ["i-1"]}]}`:         true,
		`{"rules": [{"identity": "tool/alice", "methods": ["*"]}]}`:                                                   false,
		`{"rules": [{"identity": "user", "methods": ["*"], "instances": ["*"]}]}`:                                     false,
		`{"rules": [{"identity": "tool/", "methods": ["*"], "instances": ["*"]}]}`:                                    false,
		`{"rules": [{"identity": "spiffe://example.org/tool/alice", "methods": ["*"], "instances": ["*"]}]}`:          false,
		`{"rule": []}`: false,
	} {
		if err := checkPolicyFile(raw, "o365gw.local"); (err == nil) != ok {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

// TestSecretsDocumented keeps deploy/README.md naming every Secret the
// manifests need.
func TestSecretsDocumented(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range operatorSecrets {
		if !strings.Contains(string(raw), "`"+s+"`") {
			t.Errorf("deploy/README.md does not tell how to create the Secret %s", s)
		}
	}
}

// TestNamespaceLabelsDocumented keeps deploy/README.md naming the namespace
// labels the network policies select.
func TestNamespaceLabelsDocumented(t *testing.T) {
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{prometheusLabel, databaseLabel, telemetryLabel} {
		if !strings.Contains(string(raw), "`"+l) {
			t.Errorf("deploy/README.md does not name the namespace label %s", l)
		}
	}
}

// rendered is one overlay's output, each object decoded into its type, and
// the rules it breaks.
type rendered struct {
	cloud        string
	namespaces   []corev1.Namespace
	deployments  []appsv1.Deployment
	services     []corev1.Service
	pdbs         []policyv1.PodDisruptionBudget
	configMaps   []corev1.ConfigMap
	policies     []networkingv1.NetworkPolicy
	certificates []certificate // cert-manager's, decoded by decodeCertManager
	issuers      []issuer
	problems     []string
}

func (r *rendered) errorf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// render builds the kustomization in dir of fs (deploying the given cloud) with
// the kustomize Go API, as `kubectl apply -k` would, and decodes every
// object strictly.
func render(fs filesys.FileSystem, dir, cloud string) (*rendered, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fs, dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	r := &rendered{cloud: cloud}
	for _, res := range m.Resources() {
		y, err := res.AsYAML()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", res.CurId(), err)
		}
		if res.GetApiVersion() == certManagerV1 {
			if err := r.decodeCertManager(res.GetKind(), y); err != nil {
				return nil, fmt.Errorf("%s %s: %w\n%s", res.GetKind(), res.GetName(), err, y)
			}
			continue
		}
		obj, _, err := strictDecoder.Decode(y, nil, nil)
		if runtime.IsNotRegisteredError(err) {
			err = nil // reported below
		}
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w\n%s", res.GetKind(), res.GetName(), err, y)
		}
		switch o := obj.(type) {
		case *corev1.Namespace:
			r.namespaces = append(r.namespaces, *o)
		case *appsv1.Deployment:
			r.deployments = append(r.deployments, *o)
		case *corev1.Service:
			r.services = append(r.services, *o)
		case *policyv1.PodDisruptionBudget:
			r.pdbs = append(r.pdbs, *o)
		case *corev1.ConfigMap:
			r.configMaps = append(r.configMaps, *o)
		case *networkingv1.NetworkPolicy:
			r.policies = append(r.policies, *o)
		default:
			// A StatefulSet, a volume claim or anything new is added here on
			// purpose, with the rules it has to follow.
			r.errorf("%s: unexpected object %s %s %s", dir, res.GetApiVersion(), res.GetKind(), res.GetName())
		}
	}
	return r, nil
}

// strictDecoder decodes the API types the manifests may use as the API
// server's strict field validation does: an unknown field (matched case
// sensitively, unlike encoding/json) or a duplicate field is an error.
var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// check applies every rule; release is the images' tag and documented the
// configuration variables the README lists.
func (r *rendered) check(release string, documented map[string]bool) {
	r.checkNamespace()
	for _, d := range r.deployments {
		r.checkDeployment(d, release, documented)
	}
	r.checkServices()
	r.checkDisruptionBudgets()
	r.checkCertificates()
	r.checkNetwork()
}

func (r *rendered) checkNamespace() {
	if len(r.namespaces) != 1 {
		r.errorf("want one Namespace, got %d", len(r.namespaces))
		return
	}
	ns := r.namespaces[0]
	if want := "o365gw-" + r.cloud; ns.Name != want {
		r.errorf("Namespace %q, want %q", ns.Name, want)
	}
	if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		r.errorf("Namespace %s does not enforce the restricted Pod Security profile", ns.Name)
	}
	var metas []metav1.ObjectMeta
	for _, o := range r.deployments {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.services {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.pdbs {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.configMaps {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.policies {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range r.certificates {
		metas = append(metas, o.Metadata)
	}
	for _, o := range r.issuers {
		metas = append(metas, o.Metadata)
	}
	for _, m := range metas {
		if m.Namespace != ns.Name {
			r.errorf("%s is in namespace %q, want %q", m.Name, m.Namespace, ns.Name)
		}
		for _, msg := range validation.IsDNS1123Label(m.Name) {
			r.errorf("name %q: %s", m.Name, msg)
		}
	}
}

func (r *rendered) checkDeployment(d appsv1.Deployment, release string, documented map[string]bool) {
	where := "Deployment " + d.Name
	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		r.errorf("%s: replicas must be at least 2", where)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		r.errorf("%s: the selector does not select the pod template (%v)", where, err)
	}
	pod := d.Spec.Template.Spec
	r.checkPod(where, pod)
	if len(pod.Containers) != 1 {
		r.errorf("%s: want one container, got %d", where, len(pod.Containers))
	}
	for _, c := range pod.Containers {
		cwhere := where + " container " + c.Name
		r.checkImage(cwhere, c.Name, c.Image, release)
		r.checkResources(cwhere, c.Resources)
		r.checkContainerSecurity(cwhere, pod.SecurityContext, c.SecurityContext)
		r.checkProbes(cwhere, c)
		r.checkEnv(cwhere, c, documented)
		r.checkAdmin(cwhere, d.Spec.Template.Annotations, c)
		r.checkMesh(cwhere, d.Name, pod, c)
		if containerPort(c, "grpc") != 0 {
			r.checkAuthzPolicy(cwhere, pod, c)
		}
	}
}

func (r *rendered) checkPod(where string, pod corev1.PodSpec) {
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		r.errorf("%s: automountServiceAccountToken must be false (no pod calls the Kubernetes API)", where)
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		r.errorf("%s: host namespaces are not allowed", where)
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil || v.PersistentVolumeClaim != nil || v.Ephemeral != nil {
			r.errorf("%s: volume %s: the services are stateless; only Secrets, ConfigMaps and emptyDirs", where, v.Name)
		}
		if v.Secret != nil && !slices.Contains(operatorSecrets, v.Secret.SecretName) && r.certificateOf(v.Secret.SecretName) == nil {
			r.errorf("%s: volume %s: Secret %q is not one of the documented %v nor written by a Certificate", where, v.Name, v.Secret.SecretName, operatorSecrets)
		}
		if v.ConfigMap != nil && r.configMap(v.ConfigMap.Name) == nil {
			r.errorf("%s: volume %s: no ConfigMap %s", where, v.Name, v.ConfigMap.Name)
		}
	}
	if len(pod.InitContainers) > 0 || len(pod.EphemeralContainers) > 0 {
		r.errorf("%s: init containers would need the same checks", where)
	}
}

func (r *rendered) checkImage(where, service, image, release string) {
	name, tag := image, ""
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		name, tag = image[:i], image[i+1:]
	}
	switch {
	case strings.Contains(image, "@"):
		r.errorf("%s: image %q: a digest instead of the release tag", where, image)
	case tag == "":
		r.errorf("%s: image %q has no tag (it would mean latest)", where, image)
	case tag == "latest":
		r.errorf("%s: image %q is tagged latest", where, image)
	case tag != release:
		r.errorf("%s: image %q, want the release tag %s", where, image, release)
	}
	if name != "o365gateway/"+service {
		r.errorf("%s: image %q is not o365gateway/%s (set a registry with newName in an overlay of your own)", where, image, service)
	}
}

func (r *rendered) checkResources(where string, res corev1.ResourceRequirements) {
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := res.Requests[name]
		lim, okLim := res.Limits[name]
		if !okReq || !okLim {
			r.errorf("%s: %s needs a request and a limit", where, name)
			continue
		}
		if req.Cmp(lim) > 0 {
			r.errorf("%s: %s request %s above its limit %s", where, name, req.String(), lim.String())
		}
	}
	if lim, ok := res.Limits[corev1.ResourceMemory]; ok && lim.Cmp(resource.MustParse("64Mi")) < 0 {
		r.errorf("%s: memory limit %s is too small for a Go service", where, lim.String())
	}
}

func (r *rendered) checkContainerSecurity(where string, pod *corev1.PodSecurityContext, sc *corev1.SecurityContext) {
	if sc == nil {
		r.errorf("%s: no securityContext", where)
		return
	}
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	nonRoot := sc.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		r.errorf("%s: runAsNonRoot must be true", where)
	}
	for _, uid := range []*int64{sc.RunAsUser, pod.RunAsUser} {
		if uid != nil && *uid == 0 {
			r.errorf("%s: runs as uid 0", where)
		}
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		r.errorf("%s: readOnlyRootFilesystem must be true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		r.errorf("%s: allowPrivilegeEscalation must be false", where)
	}
	if sc.Privileged != nil && *sc.Privileged {
		r.errorf("%s: privileged", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		r.errorf("%s: capabilities must drop ALL and add none", where)
	}
	seccomp := sc.SeccompProfile
	if seccomp == nil {
		seccomp = pod.SeccompProfile
	}
	if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
		r.errorf("%s: seccompProfile must be RuntimeDefault", where)
	}
}

// checkProbes requires the three probes as HTTP GETs on the admin port:
// the gRPC port requires a client certificate, which kubelet does not have.
// Readiness asks /readyz, liveness /healthz; startup asks /readyz for a
// service (ready once migrated) and /readyz or /healthz for the facade,
// whose readiness depends on the services.
func (r *rendered) checkProbes(where string, c corev1.Container) {
	admin := containerPort(c, "admin")
	startup := []string{"/readyz", "/healthz"}
	if containerPort(c, "grpc") != 0 {
		startup = []string{"/readyz"}
	}
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
		paths []string
	}{{"startup", c.StartupProbe, startup}, {"readiness", c.ReadinessProbe, []string{"/readyz"}}, {"liveness", c.LivenessProbe, []string{"/healthz"}}} {
		if p.probe == nil {
			r.errorf("%s: no %s probe", where, p.kind)
			continue
		}
		get := p.probe.HTTPGet
		if get == nil {
			r.errorf("%s: the %s probe must be an HTTP GET on the admin port (kubelet has no client certificate for the gRPC port)", where, p.kind)
			continue
		}
		port := get.Port.IntVal
		if get.Port.Type == intstr.String {
			port = containerPort(c, get.Port.StrVal)
		}
		if admin == 0 || port != admin {
			r.errorf("%s: the %s probe asks port %s, not the admin port", where, p.kind, get.Port.String())
		}
		if get.Scheme != "" && get.Scheme != corev1.URISchemeHTTP {
			r.errorf("%s: the %s probe's scheme is %s; the admin listener is plaintext HTTP", where, p.kind, get.Scheme)
		}
		if !slices.Contains(p.paths, get.Path) {
			r.errorf("%s: the %s probe asks %q, want %s", where, p.kind, get.Path, strings.Join(p.paths, " or "))
		}
	}
	if l, rd := c.LivenessProbe, c.ReadinessProbe; l != nil && rd != nil && l.FailureThreshold*l.PeriodSeconds <= rd.FailureThreshold*rd.PeriodSeconds {
		r.errorf("%s: liveness must be more lenient than readiness", where)
	}
}

func containerPort(c corev1.Container, name string) int32 {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// checkEnv checks the configuration: every variable is one the README
// documents; the database URL comes from a Secret, the cloud from the
// overlay's ConfigMap; the other services are reached as dns:/// targets of
// headless Services.
func (r *rendered) checkEnv(where string, c corev1.Container, documented map[string]bool) {
	prefix := strings.ToUpper(c.Name) + "_"
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		if _, dup := env[e.Name]; dup {
			r.errorf("%s: %s set twice", where, e.Name)
		}
		env[e.Name] = e
		// OTEL_* configure the trace exporter (*_TRACES=otlp).
		if !strings.HasPrefix(e.Name, "OTEL_") && (!strings.HasPrefix(e.Name, prefix) || !documented[e.Name]) {
			r.errorf("%s: %s is not a documented %s* variable (README, Configuration)", where, e.Name, prefix)
		}
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !slices.Contains(operatorSecrets, e.ValueFrom.SecretKeyRef.Name) {
			r.errorf("%s: %s: Secret %q is not one of the documented %v", where, e.Name, e.ValueFrom.SecretKeyRef.Name, operatorSecrets)
		}
		switch {
		case strings.HasSuffix(e.Name, "_INSECURE_PLAINTEXT"):
			r.errorf("%s: %s must not be set: it turns mutual TLS and authorization off (tests only)", where, e.Name)
		case strings.HasSuffix(e.Name, "_GRPC_REFLECTION"):
			if on, err := strconv.ParseBool(e.Value); err != nil || on || e.ValueFrom != nil {
				r.errorf("%s: %s=%q: reflection stays off in a deployment", where, e.Name, e.Value)
			}
		case strings.HasSuffix(e.Name, "_METRICS_ADDR"):
			r.errorf("%s: %s no longer exists: the admin listener (*_ADMIN_ADDR) serves /metrics", where, e.Name)
		}
	}
	if len(c.EnvFrom) > 0 {
		r.errorf("%s: envFrom hides which variables are set; name them in env", where)
	}
	listen := "https"
	if containerPort(c, "grpc") != 0 {
		listen = "grpc"
		db, ok := env[prefix+"DATABASE_URL"]
		switch {
		case !ok:
			r.errorf("%s: no %sDATABASE_URL (the default is a SQLite file)", where, prefix)
		case db.Value != "" || db.ValueFrom == nil || db.ValueFrom.SecretKeyRef == nil || db.ValueFrom.SecretKeyRef.Name != "gateway-database":
			r.errorf("%s: %sDATABASE_URL must come from the gateway-database Secret", where, prefix)
		}
		cloud, ok := env[prefix+"CLOUD"]
		if !ok || cloud.ValueFrom == nil || cloud.ValueFrom.ConfigMapKeyRef == nil {
			r.errorf("%s: %sCLOUD must come from the overlay's ConfigMap", where, prefix)
		} else if got := r.configValue(cloud.ValueFrom.ConfigMapKeyRef); got != r.cloud {
			r.errorf("%s: %sCLOUD is %q, want %q", where, prefix, got, r.cloud)
		}
	}
	if v, port := env[prefix+"LISTEN_ADDR"].Value, containerPort(c, listen); port == 0 || !strings.HasSuffix(v, ":"+strconv.Itoa(int(port))) {
		r.errorf("%s: %sLISTEN_ADDR %q is not the %s port", where, prefix, v, listen)
	}
	for _, svc := range []string{"TENANT", "SUBSCRIPTION", "USER"} {
		if e, ok := env[prefix+svc+"_ADDR"]; ok {
			r.checkTarget(where+" "+e.Name, e.Value)
		}
	}
}

func (r *rendered) configValue(ref *corev1.ConfigMapKeySelector) string {
	if cm := r.configMap(ref.Name); cm != nil {
		return cm.Data[ref.Key]
	}
	return "(no ConfigMap " + ref.Name + ")"
}

func (r *rendered) configMap(name string) *corev1.ConfigMap {
	for i := range r.configMaps {
		if r.configMaps[i].Name == name {
			return &r.configMaps[i]
		}
	}
	return nil
}

// mountAt returns the volume mounted at dir in c, nil when none is.
func mountAt(pod corev1.PodSpec, c corev1.Container, dir string) (*corev1.VolumeMount, *corev1.Volume) {
	for i, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) != path.Clean(dir) {
			continue
		}
		for j, v := range pod.Volumes {
			if v.Name == m.Name {
				return &c.VolumeMounts[i], &pod.Volumes[j]
			}
		}
		return &c.VolumeMounts[i], nil
	}
	return nil, nil
}

// checkTarget requires dns:///<service>:<port>, naming a headless Service
// of the deployment with that port.
func (r *rendered) checkTarget(where, target string) {
	hostPort, ok := strings.CutPrefix(target, "dns:///")
	if !ok {
		r.errorf("%s: %q is not a dns:/// target (client-side round-robin over every replica)", where, target)
		return
	}
	host, port, err := net.SplitHostPort(hostPort)
	if err != nil {
		r.errorf("%s: %q: %v", where, target, err)
		return
	}
	for _, s := range r.services {
		if s.Name != host {
			continue
		}
		if s.Spec.ClusterIP != corev1.ClusterIPNone {
			r.errorf("%s: Service %s is not headless", where, s.Name)
		}
		for _, p := range s.Spec.Ports {
			if strconv.Itoa(int(p.Port)) == port {
				return
			}
		}
		r.errorf("%s: Service %s has no port %s", where, s.Name, port)
		return
	}
	r.errorf("%s: no Service %s", where, host)
}

// checkAdmin requires the admin listener (*_ADMIN_ADDR) on the port named
// admin, and the scrape annotations on that port: /metrics is served there
// only, in plaintext HTTP.
func (r *rendered) checkAdmin(where string, annotations map[string]string, c corev1.Container) {
	admin, addr := containerPort(c, "admin"), ""
	for _, e := range c.Env {
		if strings.HasSuffix(e.Name, "_ADMIN_ADDR") {
			addr = e.Value
		}
	}
	if admin == 0 || !strings.HasSuffix(addr, ":"+strconv.Itoa(int(admin))) {
		r.errorf("%s: the admin port %d and *_ADMIN_ADDR %q disagree", where, admin, addr)
	}
	port, err := strconv.Atoi(annotations["prometheus.io/port"])
	switch {
	case err != nil || annotations["prometheus.io/scrape"] != "true":
		r.errorf("%s: no prometheus.io/scrape and prometheus.io/port annotations", where)
	case int32(port) != admin:
		r.errorf("%s: prometheus.io/port %d is not the admin port %d, where /metrics is served", where, port, admin)
	}
	if p := annotations["prometheus.io/path"]; p != "/metrics" {
		r.errorf("%s: prometheus.io/path %q, want /metrics", where, p)
	}
	if scheme := annotations["prometheus.io/scheme"]; scheme != "" && scheme != "http" {
		r.errorf("%s: prometheus.io/scheme %s: the admin listener is plaintext HTTP", where, scheme)
	}
}

func (r *rendered) checkServices() {
	for _, s := range r.services {
		if !slices.Contains(publicServices, s.Name) && s.Spec.ClusterIP != corev1.ClusterIPNone {
			r.errorf("Service %s must be headless (clusterIP: None): its callers balance over the replicas", s.Name)
		}
		if slices.Contains(publicServices, s.Name) && slices.ContainsFunc(s.Spec.Ports, func(p corev1.ServicePort) bool { return p.TargetPort.String() == "admin" }) {
			r.errorf("Service %s exposes the admin port: it is plaintext and stays inside the cluster", s.Name)
		}
		sel := labels.SelectorFromSet(s.Spec.Selector)
		matched := 0
		for _, d := range r.deployments {
			if len(s.Spec.Selector) == 0 || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			matched++
			for _, p := range s.Spec.Ports {
				if len(d.Spec.Template.Spec.Containers) == 0 || containerPort(d.Spec.Template.Spec.Containers[0], p.TargetPort.String()) == 0 {
					r.errorf("Service %s: port %s targets %q, not a named port of %s", s.Name, p.Name, p.TargetPort.String(), d.Name)
				}
			}
		}
		if matched != 1 {
			r.errorf("Service %s selects %d Deployments, want 1", s.Name, matched)
		}
	}
}

func (r *rendered) checkDisruptionBudgets() {
	for _, d := range r.deployments {
		n := 0
		for _, p := range r.pdbs {
			sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				continue
			}
			n++
			replicas := 1
			if d.Spec.Replicas != nil {
				replicas = int(*d.Spec.Replicas)
			}
			switch {
			case p.Spec.MaxUnavailable != nil:
				if v := p.Spec.MaxUnavailable.IntValue(); v < 1 || v >= replicas {
					r.errorf("PodDisruptionBudget %s: maxUnavailable %s must allow one eviction and keep a replica", p.Name, p.Spec.MaxUnavailable)
				}
			case p.Spec.MinAvailable != nil:
				if v := p.Spec.MinAvailable.IntValue(); v < 1 || v >= replicas {
					r.errorf("PodDisruptionBudget %s: minAvailable %s must keep a replica and allow one eviction", p.Name, p.Spec.MinAvailable)
				}
			default:
				r.errorf("PodDisruptionBudget %s: neither minAvailable nor maxUnavailable", p.Name)
			}
		}
		if n != 1 {
			r.errorf("Deployment %s: %d PodDisruptionBudgets select it, want 1", d.Name, n)
		}
	}
}

// releaseTag is the tag base/kustomization.yaml gives every image: a
// release version, vMAJOR.MINOR.PATCH (what `make images VERSION=…` writes).
func releaseTag(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("base", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Images []struct {
			Name   string `json:"name"`
			NewTag string `json:"newTag"`
		} `json:"images"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	for _, im := range k.Images {
		tags[im.NewTag] = true
	}
	if len(k.Images) != 4 || len(tags) != 1 {
		t.Fatalf("base/kustomization.yaml: want one newTag for the 4 images, got %+v", k.Images)
	}
	tag := k.Images[0].NewTag
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(tag) {
		t.Fatalf("base/kustomization.yaml: newTag %q is not a release version (vMAJOR.MINOR.PATCH)", tag)
	}
	return tag
}

// documentedVariables are the variables of the README's configuration
// tables (the services' own tests keep those tables in step with the code).
func documentedVariables(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	re := regexp.MustCompile("^\\| `([A-Z][A-Z0-9_]+)` \\|")
	out := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]] = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) < 20 {
		t.Fatalf("found only %d variables in the README's configuration tables", len(out))
	}
	return out
}
