package deploy

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// clouds are the overlays; each deploys the gateway for one Microsoft cloud.
var clouds = []string{"global", "china", "usgov"}

// operatorSecrets are the Secrets the operator creates in each namespace
// (deploy/README.md says how); the manifests reference no others.
var operatorSecrets = []string{"gateway-database", "gateway-encryption-key", "facade-tls"}

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
	container := func(deployment, fields string) string {
		return "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {name: " + deployment +
			"}\n      spec: {template: {spec: {containers: [{name: " + deployment + ", " + fields + "}]}}}\n"
	}
	cases := []struct{ name, kustomization, want string }{
		{"one replica", jsonPatch("Deployment", "tenant", `[{"op": "replace", "path": "/spec/replicas", "value": 1}]`), "Deployment tenant: replicas must be at least 2"},
		{"latest", "images: [{name: o365gateway/user, newTag: latest}]\n", "image \"o365gateway/user:latest\" is tagged latest"},
		{"untagged", "images: [{name: o365gateway/user, newName: registry.example/user}]\n", "image \"registry.example/user:v"},
		{"no liveness probe", jsonPatch("Deployment", "facade", `[{"op": "remove", "path": "/spec/template/spec/containers/0/livenessProbe"}]`), "container facade: no liveness probe"},
		{"HTTP probe on a gRPC service", jsonPatch("Deployment", "user", `[{"op": "replace", "path": "/spec/template/spec/containers/0/readinessProbe", "value": {"httpGet": {"path": "/", "port": 9090}}}]`), "readiness probe must be the gRPC health check"},
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
		{"metrics port", container("subscription", "env: [{name: SUBSCRIPTION_METRICS_ADDR, value: ':9100'}]"), "*_METRICS_ADDR \":9100\" disagree"},
		{"unknown field", jsonPatch("Deployment", "facade", `[{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/readonlyRootFilesystem", "value": true}]`), "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../overlays/global]\n" + tc.kustomization
			if err := mem.WriteFile("/deploy/broken/kustomization.yaml", []byte(k)); err != nil {
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

// rendered is one overlay's output, each object decoded into its type, and
// the rules it breaks.
type rendered struct {
	cloud       string
	namespaces  []corev1.Namespace
	deployments []appsv1.Deployment
	services    []corev1.Service
	pdbs        []policyv1.PodDisruptionBudget
	configMaps  []corev1.ConfigMap
	problems    []string
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
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme} {
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
		r.checkMetrics(cwhere, d.Spec.Template.Annotations, c)
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
		if v.Secret != nil && !slices.Contains(operatorSecrets, v.Secret.SecretName) {
			r.errorf("%s: volume %s: Secret %q is not one of the documented %v", where, v.Name, v.Secret.SecretName, operatorSecrets)
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

// checkProbes requires the three probes: the gRPC health check for a gRPC
// service; for the facade HTTP checks, readiness on /healthz.
func (r *rendered) checkProbes(where string, c corev1.Container) {
	grpcPort := containerPort(c, "grpc")
	for _, p := range []struct {
		kind  string
		probe *corev1.Probe
	}{{"startup", c.StartupProbe}, {"readiness", c.ReadinessProbe}, {"liveness", c.LivenessProbe}} {
		switch {
		case p.probe == nil:
			r.errorf("%s: no %s probe", where, p.kind)
		case grpcPort != 0:
			if p.probe.GRPC == nil || p.probe.GRPC.Port != grpcPort {
				r.errorf("%s: the %s probe must be the gRPC health check on port %d", where, p.kind, grpcPort)
			}
		case p.probe.HTTPGet != nil:
			if containerPort(c, p.probe.HTTPGet.Port.String()) == 0 {
				r.errorf("%s: the %s probe's port %s is not a named port of the container", where, p.kind, p.probe.HTTPGet.Port.String())
			}
		default:
			r.errorf("%s: the %s probe must be an HTTP check", where, p.kind)
		}
	}
	if grpcPort == 0 && c.ReadinessProbe != nil && (c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz") {
		r.errorf("%s: readiness must ask /healthz", where)
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
	for _, cm := range r.configMaps {
		if cm.Name == ref.Name {
			return cm.Data[ref.Key]
		}
	}
	return "(no ConfigMap " + ref.Name + ")"
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

// checkMetrics requires the scrape annotations on a declared port; a
// service's port named metrics is the one *_METRICS_ADDR serves.
func (r *rendered) checkMetrics(where string, annotations map[string]string, c corev1.Container) {
	port, err := strconv.Atoi(annotations["prometheus.io/port"])
	if err != nil || annotations["prometheus.io/scrape"] != "true" {
		r.errorf("%s: no prometheus.io/scrape and prometheus.io/port annotations", where)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return int(p.ContainerPort) == port }) {
		r.errorf("%s: the metrics port %d is not declared", where, port)
	}
	if m := containerPort(c, "metrics"); m != 0 {
		addr := ""
		for _, e := range c.Env {
			if strings.HasSuffix(e.Name, "_METRICS_ADDR") {
				addr = e.Value
			}
		}
		if int(m) != port || !strings.HasSuffix(addr, ":"+strconv.Itoa(int(m))) {
			r.errorf("%s: the metrics port %d, the annotation %d and *_METRICS_ADDR %q disagree", where, m, port, addr)
		}
	}
}

func (r *rendered) checkServices() {
	for _, s := range r.services {
		if !slices.Contains(publicServices, s.Name) && s.Spec.ClusterIP != corev1.ClusterIPNone {
			r.errorf("Service %s must be headless (clusterIP: None): its callers balance over the replicas", s.Name)
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
