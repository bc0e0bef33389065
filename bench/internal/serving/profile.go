package serving

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/o365gateway/gateway/sim/devstack"
)

// profiledNames are the processes whose CPU is profiled under the facade's load.
var profiledNames = []string{devstack.Facade, devstack.Tenant}

// profile takes a CPU profile of each of the processes names over the
// measured part of a run (after warm, for d) from its admin listener into
// dir, named after the configuration and the process.
func profile(ctx context.Context, f *fixture, names []string, dir, config string, warm, d time.Duration) chan error {
	done := make(chan error, 1)
	go func() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			done <- err
			return
		}
		time.Sleep(warm)
		errs := make(chan error, len(names))
		for _, n := range names {
			go func() {
				url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", f.stack.AdminAddr[n], max(1, int(d.Seconds())-1))
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("%s: %s", url, resp.Status)
					return
				}
				name := filepath.Join(dir, strings.ReplaceAll(config, " ", "-")+"-"+n+".pprof")
				out, err := os.Create(name)
				if err != nil {
					errs <- err
					return
				}
				_, err = io.Copy(out, resp.Body)
				out.Close()
				errs <- err
			}()
		}
		var first error
		for range names {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		done <- first
	}()
	return done
}
