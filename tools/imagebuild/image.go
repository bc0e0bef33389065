package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: not root, the uid distroless and most restricted
// platforms use (the manifests run as it too).
const (
	UID  = 65532
	Home = "/home/nonroot"
	// CAPath is where the CA bundle goes; Go's crypto/x509 reads it there.
	CAPath = "/etc/ssl/certs/ca-certificates.crt"
	// BinDir holds the service's binary, the image's entrypoint.
	BinDir = "/usr/local/bin"
)

// Spec describes one service's image.
type Spec struct {
	Service string    // tenant, subscription, user, facade or console
	Binary  []byte    // a static linux binary
	Arch    string    // GOARCH of the binary
	CA      []byte    // the CA bundle (PEM)
	Version string    // the tag and org.opencontainers.image.version
	Created time.Time // every timestamp in the image (reproducible builds)
}

// Entrypoint is where the service's binary is in its image.
func Entrypoint(service string) string { return path.Join(BinDir, service) }

// Build assembles the image: an empty base, one layer with the CA bundle,
// /etc/passwd, /etc/group and the home and /tmp directories, and one with
// the binary; OCI media types; the non-root user and the entrypoint in the
// config.
func Build(s Spec) (v1.Image, error) {
	if err := checkStatic(s.Binary, s.Arch); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Service, err)
	}
	if len(s.CA) == 0 {
		return nil, errors.New("empty CA bundle")
	}
	user := strconv.Itoa(UID)
	base := []entry{
		dir("etc", 0, 0o755), file("etc/passwd", 0, 0o644, []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n"+
				"nonroot:x:"+user+":"+user+":nonroot:"+Home+":/sbin/nologin\n")),
		file("etc/group", 0, 0o644, []byte("root:x:0:\nnonroot:x:"+user+":\n")),
		file("etc/nsswitch.conf", 0, 0o644, []byte("hosts: files dns\n")),
		dir("etc/ssl", 0, 0o755), dir("etc/ssl/certs", 0, 0o755), file(CAPath[1:], 0, 0o644, s.CA),
		dir("home", 0, 0o755), dir(Home[1:], UID, 0o700),
		dir("tmp", 0, 0o1777),
		dir("usr", 0, 0o755), dir("usr/local", 0, 0o755), dir(BinDir[1:], 0, 0o755),
	}
	app := []entry{file(Entrypoint(s.Service)[1:], 0, 0o755, s.Binary)}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	created := v1.Time{Time: s.Created.UTC()}
	for _, l := range []struct {
		entries []entry
		comment string
	}{{base, "CA certificates, /etc/passwd, /etc/group, " + Home + ", /tmp"}, {app, "the " + s.Service + " binary"}} {
		layer, err := layer(l.entries, s.Created)
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
			History: v1.History{Created: created, CreatedBy: "o365gateway imagebuild", Comment: l.comment}})
		if err != nil {
			return nil, err
		}
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.Created = created
	cfg.OS, cfg.Architecture = "linux", s.Arch
	cfg.Config = v1.Config{
		User:       user + ":" + user,
		Entrypoint: []string{Entrypoint(s.Service)},
		WorkingDir: Home,
		Env:        []string{"PATH=" + BinDir + ":/usr/bin:/bin", "SSL_CERT_FILE=" + CAPath, "HOME=" + Home},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "o365gateway/" + s.Service,
			"org.opencontainers.image.version": s.Version,
			"org.opencontainers.image.created": created.Format(time.RFC3339),
		},
	}
	return mutate.ConfigFile(img, cfg)
}

// checkStatic refuses a binary that is not a statically linked linux ELF
// of arch: on an empty base there is no dynamic loader nor libc.
func checkStatic(bin []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
	want := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if want == elf.EM_NONE || f.Machine != want {
		return fmt.Errorf("binary for %s, want %s", f.Machine, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (build with CGO_ENABLED=0)")
		}
	}
	return nil
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func dir(name string, uid int, mode int64) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: uid}}
}

func file(name string, uid int, mode int64, body []byte) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: uid, Gid: uid, Size: int64(len(body))}, body: body}
}

// layer writes entries as a reproducible tar (fixed times, no user names)
// and returns it as a gzip-compressed layer.
func layer(entries []entry, mtime time.Time) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		h.ModTime, h.Format = mtime.UTC(), tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil },
		tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.BestCompression), tarball.WithCompressedCaching)
}
