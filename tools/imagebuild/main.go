// Command imagebuild writes the gateway's container images as tarballs,
// without Docker, a daemon or a registry: each service's static binary on
// an empty base with the CA certificates and a non-root user, assembled
// with go-containerregistry (see image.go) and written as an OCI image
// layout that `docker load` also reads (archive.go).
//
//	imagebuild -version v0.1.0 -out bin/images tenant=bin/images/bin/tenant …
//
// writes bin/images/tenant-v0.1.0.tar holding o365gateway/tenant:v0.1.0.
// `make images` runs it.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("imagebuild", flag.ContinueOnError)
	version := fs.String("version", "", "image tag and org.opencontainers.image.version (required)")
	out := fs.String("out", "bin/images", "directory the tarballs are written to")
	repo := fs.String("repo", "o365gateway", "repository prefix: images are <repo>/<service>:<version>")
	ca := fs.String("ca", "/etc/ssl/certs/ca-certificates.crt", "CA bundle (PEM) copied into the images")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH the binaries were built for")
	epoch := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, Unix seconds (default: SOURCE_DATE_EPOCH, else 0)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: imagebuild -version V [flags] service=binary ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" || fs.NArg() == 0 {
		fs.Usage()
		return fmt.Errorf("-version and at least one service=binary are required")
	}
	var created time.Time
	if *epoch != "" {
		sec, err := strconv.ParseInt(*epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("-created: %w", err)
		}
		created = time.Unix(sec, 0)
	} else {
		created = time.Unix(0, 0)
	}
	caPEM, err := os.ReadFile(*ca)
	if err != nil {
		return fmt.Errorf("CA bundle: %w (Debian: apt-get install ca-certificates)", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, a := range fs.Args() {
		service, binPath, ok := strings.Cut(a, "=")
		if !ok || service == "" || binPath == "" {
			return fmt.Errorf("%q: want service=binary", a)
		}
		bin, err := os.ReadFile(binPath)
		if err != nil {
			return err
		}
		img, err := Build(Spec{Service: service, Binary: bin, Arch: *arch, CA: caPEM, Version: *version, Created: created})
		if err != nil {
			return err
		}
		ref := *repo + "/" + service + ":" + *version
		path := filepath.Join(*out, service+"-"+*version+".tar")
		if err := writeFile(path, func(w *bufio.Writer) error { return WriteArchive(w, img, ref, created) }); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Printf("%s  %s  %s  %.1f MB\n", path, ref, digest, float64(st.Size())/1e6)
	}
	return nil
}

// writeFile writes path through a temporary file, so that a failed run
// leaves no partial tarball.
func writeFile(path string, write func(*bufio.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".imagebuild-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := write(w); err != nil {
		tmp.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
