package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// WriteArchive writes img as one tar that is both an OCI image layout
// (oci-layout, index.json, blobs/sha256/…: `skopeo copy oci-archive:…`,
// `ctr images import`, `podman load`) and a `docker save` archive
// (manifest.json naming the same blobs: `docker load`,
// `crane push <tar> <ref>`, `kind load image-archive`), as `docker save`
// itself writes since Docker 25. ref is repository:tag. Entries are in a
// fixed order with fixed times, so an unchanged image gives the same bytes.
func WriteArchive(w io.Writer, img v1.Image, ref string, mtime time.Time) error {
	repo, tag, _ := strings.Cut(ref, ":")
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}

	fullName := repo
	if first, _, _ := strings.Cut(repo, "/"); !strings.ContainsAny(first, ".:") && first != "localhost" {
		fullName = "docker.io/" + repo
	}
	index, err := json.Marshal(v1.IndexManifest{
		SchemaVersion: 2,
		MediaType:     types.OCIImageIndex,
		Manifests: []v1.Descriptor{{
			MediaType: types.OCIManifestSchema1, Digest: digest, Size: int64(len(manifest)),
			Annotations: map[string]string{
				"io.containerd.image.name":          fullName + ":" + tag,
				"org.opencontainers.image.ref.name": tag,
			},
		}},
	})
	if err != nil {
		return err
	}
	dockerManifest := tarball.Descriptor{Config: blobPath(configName), RepoTags: []string{ref}}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		dockerManifest.Layers = append(dockerManifest.Layers, blobPath(d))
	}
	dockerJSON, err := json.Marshal(tarball.Manifest{dockerManifest})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	put := func(name string, body io.Reader, size int64) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size, ModTime: mtime.UTC(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := io.Copy(tw, body)
		return err
	}
	putBytes := func(name string, b []byte) error { return put(name, bytes.NewReader(b), int64(len(b))) }
	for _, d := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d, Mode: 0o755, ModTime: mtime.UTC(), Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	written := map[v1.Hash]bool{}
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if written[d] {
			continue
		}
		written[d] = true
		size, err := l.Size()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		err = put(blobPath(d), rc, size)
		rc.Close()
		if err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		body []byte
	}{
		{blobPath(configName), config},
		{blobPath(digest), manifest},
		{"index.json", index},
		{"manifest.json", dockerJSON},
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
	} {
		if err := putBytes(f.name, f.body); err != nil {
			return err
		}
	}
	return tw.Close()
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
