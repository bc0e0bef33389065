package main

import (
	"archive/tar"
	"bytes"
	"crypto/x509"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// services are the images `make images` writes.
var services = []string{"tenant", "subscription", "user", "facade", "console", "allinone"}

// TestImages inspects the tarballs `make images` wrote: O365GW_IMAGES is
// their directory, O365GW_IMAGE_VERSION their version (the Makefile sets
// both).
func TestImages(t *testing.T) {
	dir, version := os.Getenv("O365GW_IMAGES"), os.Getenv("O365GW_IMAGE_VERSION")
	if dir == "" || version == "" {
		t.Skip("O365GW_IMAGES and O365GW_IMAGE_VERSION are not set (make images sets them)")
	}
	for _, s := range services {
		t.Run(s, func(t *testing.T) {
			inspect(t, filepath.Join(dir, s+"-"+version+".tar"), "o365gateway/"+s+":"+version, s, version, true)
		})
	}
}

// TestBuild builds an image from a small static binary, writes it and
// inspects the tarball as TestImages does, and checks that a second build
// gives the same bytes.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	bin := buildHello(t, dir)
	ca := caBundle(t)
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	write := func(path string) {
		img, err := Build(Spec{Service: "tenant", Binary: bin, Arch: "amd64", CA: ca, Version: "v9.8.7", Created: created})
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteArchive(f, img, "o365gateway/tenant:v9.8.7", created); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	a, b := filepath.Join(dir, "a.tar"), filepath.Join(dir, "b.tar")
	write(a)
	write(b)
	inspect(t, a, "o365gateway/tenant:v9.8.7", "tenant", "v9.8.7", false)
	ra, _ := os.ReadFile(a)
	rb, _ := os.ReadFile(b)
	if !bytes.Equal(ra, rb) {
		t.Error("two builds of the same image differ")
	}
}

func TestBuildRefusesDynamicBinaries(t *testing.T) {
	// The test binary itself: dynamically linked when cgo is on; otherwise
	// a truncated ELF header stands in.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	for name, bin := range map[string][]byte{"not ELF": []byte("#!/bin/sh\n"), "self or static": self} {
		_, err := Build(Spec{Service: "tenant", Binary: bin, Arch: "arm64", CA: caBundle(t), Version: "v1.0.0"})
		if err == nil {
			t.Errorf("%s: accepted (as an arm64 static binary)", name)
		}
	}
}

func buildHello(t *testing.T, dir string) []byte {
	t.Helper()
	src := filepath.Join(dir, "hello")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"go.mod": "module hello\n\ngo 1.26\n", "main.go": "package main\n\nfunc main() { println(\"hello\") }\n"}
	for n, body := range files {
		if err := os.WriteFile(filepath.Join(src, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "hello.bin")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOWORK=off", "GOFLAGS=-buildvcs=false")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

func caBundle(t *testing.T) []byte {
	t.Helper()
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Skipf("no CA bundle on this machine: %v", err)
	}
	return ca
}

// inspect opens the tarball both ways a runtime does (the OCI layout and
// docker's manifest.json), requires the same image from both, and checks
// it: the config (non-root user, entrypoint, platform) and the files (the
// binary at the entrypoint, static; the CA bundle; /etc/passwd with the
// user). service is the Go binary's expected name; gateway requires the
// build settings `make images` uses.
func inspect(t *testing.T, path, ref, service, version string, gateway bool) {
	t.Helper()
	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	docker, err := tarball.ImageFromPath(path, &tag)
	if err != nil {
		t.Fatalf("%s as a docker archive: %v", path, err)
	}
	oci := fromLayout(t, path, version)
	if err := validate.Image(oci); err != nil {
		t.Fatalf("%s: the OCI image does not validate: %v", path, err)
	}
	if mt, _ := oci.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, want %s", mt, types.OCIManifestSchema1)
	}
	dc, _ := docker.ConfigName()
	oc, _ := oci.ConfigName()
	dl, _ := docker.Layers()
	ol, _ := oci.Layers()
	if dc != oc || len(dl) != len(ol) {
		t.Errorf("manifest.json and index.json name different images (config %s and %s)", dc, oc)
	}

	cfg, err := oci.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	entry := Entrypoint(service)
	if !slices.Equal(cfg.Config.Entrypoint, []string{entry}) {
		t.Errorf("entrypoint %q, want [%s]", cfg.Config.Entrypoint, entry)
	}
	uidText, _, _ := strings.Cut(cfg.Config.User, ":")
	uid, err := strconv.Atoi(uidText)
	if err != nil || uid == 0 {
		t.Errorf("config User %q: want a numeric non-root uid (runAsNonRoot can verify only a number)", cfg.Config.User)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if cfg.Config.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("version label %q, want %q", cfg.Config.Labels["org.opencontainers.image.version"], version)
	}

	files := map[string]*tar.Header{}
	contents := map[string][]byte{}
	rc := mutate.Extract(oci)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := "/" + strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		files[p] = h
		if h.Typeflag == tar.TypeReg && (p == entry || strings.HasPrefix(p, "/etc/")) {
			if contents[p], err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	bin, ok := files[entry]
	if !ok || bin.Typeflag != tar.TypeReg || bin.Mode&0o111 == 0 {
		t.Fatalf("no executable file at the entrypoint %s", entry)
	}
	if err := checkStatic(contents[entry], cfg.Architecture); err != nil {
		t.Errorf("%s: %v", entry, err)
	}
	if gateway {
		checkBuildInfo(t, contents[entry], version)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(contents[CAPath]) {
		t.Errorf("no CA certificate at %s", CAPath)
	}
	var home string
	for _, line := range strings.Split(string(contents["/etc/passwd"]), "\n") {
		if f := strings.Split(line, ":"); len(f) == 7 && f[2] == uidText {
			home = f[5]
		}
	}
	if home == "" {
		t.Errorf("/etc/passwd has no entry for uid %s:\n%s", uidText, contents["/etc/passwd"])
	} else if h, ok := files[home]; !ok || h.Typeflag != tar.TypeDir || h.Uid != uid {
		t.Errorf("the home directory %s is missing or not the user's", home)
	}
	if !strings.Contains(string(contents["/etc/group"]), ":"+uidText+":") {
		t.Errorf("/etc/group has no group %s", uidText)
	}
	if h, ok := files["/tmp"]; !ok || h.Mode&0o1777 != 0o1777 {
		t.Error("no /tmp with mode 1777")
	}
	for p, h := range files {
		if h.Uid != 0 && p != home {
			t.Errorf("%s belongs to uid %d: the user must not own the files it runs", p, h.Uid)
		}
	}
}

// checkBuildInfo requires the build `make images` makes: cgo off, paths
// trimmed, the version stamped.
func checkBuildInfo(t *testing.T, bin []byte, version string) {
	t.Helper()
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Errorf("build info: %v", err)
		return
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("built with CGO_ENABLED=%q -trimpath=%q, want 0 and true", settings["CGO_ENABLED"], settings["-trimpath"])
	}
	// -trimpath keeps -ldflags out of the build info: look for the string
	// -X stamped into service.Version instead.
	if !bytes.Contains(bin, []byte(version)) {
		t.Errorf("the version %s is not stamped into the binary", version)
	}
}

// fromLayout reads the tarball as an OCI image layout and returns the image
// index.json names with the tag.
func fromLayout(t *testing.T, path, tag string) v1.Image {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("unsafe path %q in the archive", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var body []byte
			if body, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, body, 0o644)
			}
		default:
			t.Fatalf("unexpected entry %q in the archive", h.Name)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("not an OCI image layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("index.json lists %d manifests, want 1", len(im.Manifests))
	}
	d := im.Manifests[0]
	if d.Annotations["org.opencontainers.image.ref.name"] != tag {
		t.Errorf("index.json ref.name %q, want %q", d.Annotations["org.opencontainers.image.ref.name"], tag)
	}
	img, err := idx.Image(d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}
