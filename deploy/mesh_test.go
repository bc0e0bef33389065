package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// certManagerV1 is the API of cert-manager's Certificate and Issuer. They
// are not in k8s.io/api, and cert-manager's own Go module would bring its
// controller's dependencies along, so they are decoded into the structs
// below, strictly: a field that is not there (or is mis-cased, or comes
// twice) fails, so a field the manifests start to use is added there on
// purpose, with its rule.
const certManagerV1 = "cert-manager.io/v1"

// certificate is the part of a cert-manager Certificate the manifests use.
type certificate struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		SecretName string `json:"secretName"`
		IssuerRef  struct {
			Group string `json:"group"`
			Kind  string `json:"kind"`
			Name  string `json:"name"`
		} `json:"issuerRef"`
		URIs        []string `json:"uris"`
		Usages      []string `json:"usages"`
		Duration    string   `json:"duration"`
		RenewBefore string   `json:"renewBefore"`
		PrivateKey  struct {
			Algorithm      string `json:"algorithm"`
			Size           int    `json:"size"`
			RotationPolicy string `json:"rotationPolicy"`
		} `json:"privateKey"`
	} `json:"spec"`
}

// issuer is the part of a cert-manager Issuer the manifests use: a CA
// issuer, whose key pair is a Secret of the namespace.
type issuer struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		CA *struct {
			SecretName string `json:"secretName"`
		} `json:"ca"`
	} `json:"spec"`
}

// certUsages are the key usages cert-manager accepts (its KeyUsage type).
var certUsages = []string{"signing", "digital signature", "content commitment", "key encipherment", "key agreement",
	"data encipherment", "cert sign", "crl sign", "encipher only", "decipher only", "any", "server auth", "client auth",
	"code signing", "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user", "timestamping",
	"ocsp signing", "microsoft sgc", "netscape sgc"}

// maxCertificateLife bounds a process certificate's duration: a stolen key
// is of use for a day or so, not for months. cert-manager renews it well
// before, and the processes re-read it in place.
const maxCertificateLife = 7 * 24 * time.Hour

// decodeStrict decodes one YAML object into v as the API server's strict
// field validation would: unknown, mis-cased and duplicate fields fail.
func decodeStrict(y []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(y)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func (r *rendered) decodeCertManager(kind string, y []byte) error {
	switch kind {
	case "Certificate":
		var c certificate
		if err := decodeStrict(y, &c); err != nil {
			return err
		}
		r.certificates = append(r.certificates, c)
	case "Issuer":
		var i issuer
		if err := decodeStrict(y, &i); err != nil {
			return err
		}
		r.issuers = append(r.issuers, i)
	default:
		// A ClusterIssuer would share one CA between the clouds.
		r.errorf("unexpected object %s %s", certManagerV1, kind)
	}
	return nil
}

// certificateOf is the Certificate that writes the Secret, nil when none does.
func (r *rendered) certificateOf(secret string) *certificate {
	for i := range r.certificates {
		if r.certificates[i].Spec.SecretName == secret {
			return &r.certificates[i]
		}
	}
	return nil
}

// envValues are a container's variables that have a literal value.
func envValues(c corev1.Container) map[string]string {
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	return env
}

// checkMesh requires the process's identity for mutual TLS: MTLS_* naming
// ca.crt, tls.crt and tls.key of a Secret that a Certificate writes (the
// layout of cert-manager), mounted read-only as a directory (a subPath is
// never updated, and the process re-reads the files when cert-manager
// renews them), and the Certificate naming the process's SPIFFE ID in the
// trust domain the process sets.
func (r *rendered) checkMesh(where, name string, pod corev1.PodSpec, c corev1.Container) {
	prefix := strings.ToUpper(c.Name) + "_"
	env := envValues(c)
	ca, crt, key, domain := env[prefix+"MTLS_CA_FILE"], env[prefix+"MTLS_CERT_FILE"], env[prefix+"MTLS_KEY_FILE"], env[prefix+"TRUST_DOMAIN"]
	if ca == "" || crt == "" || key == "" || domain == "" {
		r.errorf("%s: %[2]sMTLS_CA_FILE, %[2]sMTLS_CERT_FILE, %[2]sMTLS_KEY_FILE and %[2]sTRUST_DOMAIN must be set: every process speaks mutual TLS", where, prefix)
		return
	}
	if domain != r.trustDomain() {
		r.errorf("%s: %sTRUST_DOMAIN %q, but the deployment's first process has %q", where, prefix, domain, r.trustDomain())
	}
	dir := path.Dir(crt)
	if ca != path.Join(dir, "ca.crt") || crt != path.Join(dir, "tls.crt") || key != path.Join(dir, "tls.key") {
		r.errorf("%s: the MTLS_* files %s, %s and %s must be ca.crt, tls.crt and tls.key of one directory (a cert-manager Secret)", where, ca, crt, key)
	}
	mount, vol := mountAt(pod, c, dir)
	switch {
	case mount == nil:
		r.errorf("%s: no volume is mounted at %s, where %sMTLS_CERT_FILE is", where, dir, prefix)
		return
	case !mount.ReadOnly:
		r.errorf("%s: the certificate's volume %s must be mounted read-only", where, mount.Name)
	case mount.SubPath != "" || mount.SubPathExpr != "":
		r.errorf("%s: the certificate's volume %s is mounted with a subPath, which kubelet never updates: a renewed certificate would not reach the process", where, mount.Name)
	}
	if vol == nil || vol.Secret == nil {
		r.errorf("%s: the volume at %s is not a Secret", where, dir)
		return
	}
	cert := r.certificateOf(vol.Secret.SecretName)
	if cert == nil {
		r.errorf("%s: Secret %s at %s is written by no Certificate", where, vol.Secret.SecretName, dir)
		return
	}
	if want := "spiffe://" + domain + "/" + name; !slices.Equal(cert.Spec.URIs, []string{want}) {
		r.errorf("Certificate %s: uris %v, want [%s], the identity the other processes expect of %s", cert.Metadata.Name, cert.Spec.URIs, want, name)
	}
}

// trustDomain is the TRUST_DOMAIN of the first Deployment: every process
// must have the same.
func (r *rendered) trustDomain() string {
	for _, d := range r.deployments {
		for _, c := range d.Spec.Template.Spec.Containers {
			if v, ok := envValues(c)[strings.ToUpper(c.Name)+"_TRUST_DOMAIN"]; ok {
				return v
			}
		}
	}
	return ""
}

// checkCertificates requires each Certificate to be one process's: issued
// by an Issuer of the namespace backed by the operator's CA Secret, for
// both server and client authentication, short-lived, renewed with a new
// key, and mounted by exactly one Deployment.
func (r *rendered) checkCertificates() {
	for _, i := range r.issuers {
		if i.Spec.CA == nil || !slices.Contains(operatorSecrets, i.Spec.CA.SecretName) {
			r.errorf("Issuer %s: want a CA issuer whose Secret is one of the documented %v", i.Metadata.Name, operatorSecrets)
		}
	}
	for _, c := range r.certificates {
		where := "Certificate " + c.Metadata.Name
		spec := c.Spec
		for _, msg := range validation.IsDNS1123Subdomain(spec.SecretName) {
			r.errorf("%s: secretName %q: %s", where, spec.SecretName, msg)
		}
		ref := spec.IssuerRef
		if ref.Group != "cert-manager.io" || ref.Kind != "Issuer" || !slices.ContainsFunc(r.issuers, func(i issuer) bool { return i.Metadata.Name == ref.Name }) {
			r.errorf("%s: issuerRef %s/%s %s is not an Issuer of the namespace (a ClusterIssuer would share the CA between clouds)", where, ref.Group, ref.Kind, ref.Name)
		}
		if len(spec.URIs) != 1 {
			r.errorf("%s: want one URI SAN, the SPIFFE ID, got %v", where, spec.URIs)
		}
		for _, u := range spec.Usages {
			if !slices.Contains(certUsages, u) {
				r.errorf("%s: usage %q is not one cert-manager knows", where, u)
			}
		}
		for _, u := range []string{"server auth", "client auth"} {
			if !slices.Contains(spec.Usages, u) {
				r.errorf("%s: usages %v lack %q: every process serves and calls over mutual TLS", where, spec.Usages, u)
			}
		}
		life, err1 := time.ParseDuration(spec.Duration)
		renew, err2 := time.ParseDuration(spec.RenewBefore)
		switch {
		case err1 != nil || err2 != nil:
			r.errorf("%s: duration %q and renewBefore %q must both be set (%v)", where, spec.Duration, spec.RenewBefore, errors.Join(err1, err2))
		case life > maxCertificateLife:
			r.errorf("%s: duration %s is longer than %s", where, life, maxCertificateLife)
		case renew <= 0 || renew >= life:
			r.errorf("%s: renewBefore %s must fall within the duration %s", where, renew, life)
		}
		if spec.PrivateKey.RotationPolicy != "Always" {
			r.errorf("%s: privateKey.rotationPolicy must be Always (a new key at every renewal)", where)
		}
		mounted := 0
		for _, d := range r.deployments {
			if slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
				return v.Secret != nil && v.Secret.SecretName == spec.SecretName
			}) {
				mounted++
			}
		}
		if mounted != 1 {
			r.errorf("%s: its Secret %s is mounted by %d Deployments, want 1 (an operator's tool certificate is not part of the manifests)", where, spec.SecretName, mounted)
		}
	}
}

// checkAuthzPolicy requires a service's AUTHZ_POLICY_FILE to be a key of a
// mounted ConfigMap holding a valid policy whose rules name operators'
// tools only: the processes' own rules are built into the services.
func (r *rendered) checkAuthzPolicy(where string, pod corev1.PodSpec, c corev1.Container) {
	prefix := strings.ToUpper(c.Name) + "_"
	env := envValues(c)
	file := env[prefix+"AUTHZ_POLICY_FILE"]
	if file == "" {
		r.errorf("%s: no %sAUTHZ_POLICY_FILE: operators' tools are authorised by the gateway-authz ConfigMap", where, prefix)
		return
	}
	mount, vol := mountAt(pod, c, path.Dir(file))
	if mount == nil || vol == nil || vol.ConfigMap == nil || !mount.ReadOnly {
		r.errorf("%s: %sAUTHZ_POLICY_FILE %q is not in a ConfigMap mounted read-only", where, prefix, file)
		return
	}
	cm := r.configMap(vol.ConfigMap.Name)
	if cm == nil {
		return // reported by checkPod
	}
	raw, ok := cm.Data[path.Base(file)]
	if !ok {
		r.errorf("%s: ConfigMap %s has no key %s (%sAUTHZ_POLICY_FILE)", where, cm.Name, path.Base(file), prefix)
		return
	}
	if err := checkPolicyFile(raw, env[prefix+"TRUST_DOMAIN"]); err != nil {
		r.errorf("%s: ConfigMap %s, %s: %v", where, cm.Name, path.Base(file), err)
	}
}

// checkPolicyFile reads a policy as the services do (services/shared/authz:
// unknown fields refused; identity, methods and instances required) and
// requires operators' tools as identities: tool/<name>, or its SPIFFE ID.
func checkPolicyFile(raw, trustDomain string) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var f struct {
		Rules []struct {
			Identity  string   `json:"identity"`
			Methods   []string `json:"methods"`
			Instances []string `json:"instances"`
		} `json:"rules"`
	}
	if err := dec.Decode(&f); err != nil {
		return err
	}
	var errs []error
	for i, rule := range f.Rules {
		if rule.Identity == "" || len(rule.Methods) == 0 || len(rule.Instances) == 0 {
			errs = append(errs, fmt.Errorf("rule %d needs identity, methods and instances", i+1))
		}
		name := strings.TrimPrefix(rule.Identity, "spiffe://"+trustDomain+"/")
		if tool, ok := strings.CutPrefix(name, "tool/"); !ok || tool == "" {
			errs = append(errs, fmt.Errorf("rule %d: %q is not an operator's tool (tool/<name>); the processes' own rules are built in", i+1, rule.Identity))
		}
	}
	return errors.Join(errs...)
}
