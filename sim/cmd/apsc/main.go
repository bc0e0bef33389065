// Command apsc plays the APS controller against a running gateway.
//
//	apsc demo    [flags]  run the scripted demo scenario (register a partner at the
//	                      simulator, install an instance, provision, retrieve and
//	                      unprovision a tenant)
//	apsc install [flags]  install one application instance and show the answers
//
// Flags default to the environment variables APSC_FACADE_URL, APSC_FACADE_CA,
// APSC_SIM_URL and APSC_SIM_CA, then to the addresses and files of a dev stack
// started with the defaults of the devstack command (work directory ./.run).
package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: apsc <command> [flags]

commands:
  demo      run the scripted demo scenario against a running stack
  install   install one application instance and show the facade's answers

Run "apsc <command> -h" for the flags of a command.
`)
}

// common are the flags every command has.
type common struct {
	facade, facadeCA, sim, simCA, caDir string
	maxRetryWait, timeout               time.Duration
	verbose                             bool
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// existing returns path when the file exists, else "".
func existing(path string) string {
	if _, err := os.Stat(path); err == nil {
		return path
	}
	return ""
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.facade, "facade", envOr("APSC_FACADE_URL", "https://127.0.0.1:8443/aps/"), "the facade's endpoint URI (env APSC_FACADE_URL)")
	fs.StringVar(&c.facadeCA, "facade-ca", envOr("APSC_FACADE_CA", existing(".run/facade-tls/ca.pem")), "PEM file to verify the facade's certificate; empty skips verification (env APSC_FACADE_CA)")
	fs.StringVar(&c.sim, "sim", envOr("APSC_SIM_URL", "https://127.0.0.1:9443"), "the Microsoft simulator's base URL (env APSC_SIM_URL)")
	fs.StringVar(&c.simCA, "sim-ca", envOr("APSC_SIM_CA", existing(".run/mscloud-ca.pem")), "PEM file of the simulator's CA; empty skips verification (env APSC_SIM_CA)")
	fs.StringVar(&c.caDir, "ca-dir", envOr("APSC_CA_DIR", ".run/apsc-ca"), "where the controller's CA is kept (created if missing); `make run`'s tenant service trusts .run/apsc-ca (env APSC_CA_DIR)")
	fs.DurationVar(&c.maxRetryWait, "max-retry-wait", 0, "cap on the wait between async re-sends (0 obeys APS-Retry-Timeout)")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Minute, "give up after this long")
	fs.BoolVar(&c.verbose, "v", false, "debug logs of every exchange on stderr")
}

func (c *common) facadePool() (*x509.CertPool, error) {
	if c.facadeCA == "" {
		return nil, nil
	}
	pemBytes, err := os.ReadFile(c.facadeCA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, fmt.Errorf("%s holds no PEM certificate", c.facadeCA)
	}
	return pool, nil
}

func (c *common) simCAPEM() ([]byte, error) {
	if c.simCA == "" {
		return nil, nil
	}
	return os.ReadFile(c.simCA)
}

func (c *common) logger(stderr io.Writer) *slog.Logger {
	if !c.verbose {
		return nil
	}
	return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "demo":
		err = demo(ctx, args[1:], stdout, stderr)
	case "install":
		err = install(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "apsc: unknown command %q\n", args[0])
		usage(stderr)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintln(stderr, "apsc:", err)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "\nFAILED:", err)
		return 1
	}
	return 0
}

type usageError struct{ error }

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apsc demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	subdomain := fs.String("subdomain", "", "the tenant's initial subdomain (default: random)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	pool, err := c.facadePool()
	if err != nil {
		return err
	}
	simCA, err := c.simCAPEM()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	return apsc.RunDemo(ctx, apsc.DemoOptions{
		FacadeURL:    c.facade,
		FacadeCAPool: pool,
		SimURL:       c.sim,
		SimCAPEM:     simCA,
		Subdomain:    *subdomain,
		MaxRetryWait: c.maxRetryWait,
		CADir:        c.caDir,
		Out:          stdout,
		Logger:       c.logger(stderr),
		Life:         true,
	})
}

func install(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("apsc install", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	settingsJSON := fs.String("settings", "", `the instance's global settings as a JSON object; empty registers a demo partner at the simulator and uses its settings`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	pool, err := c.facadePool()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()

	var settings map[string]any
	if *settingsJSON != "" {
		if err := json.Unmarshal([]byte(*settingsJSON), &settings); err != nil {
			return usageError{fmt.Errorf("-settings: %w", err)}
		}
	} else {
		simCA, err := c.simCAPEM()
		if err != nil {
			return err
		}
		sim, err := apsc.NewSimClient(c.sim, simCA)
		if err != nil {
			return err
		}
		p, err := sim.RegisterPartner(ctx, apsc.DemoPartnerRequest("apsc install "+time.Now().Format("15:04:05")))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "registered partner %s at the simulator\n", p.TenantID)
		settings = apsc.DemoSettings(p)
	}

	ctrl, err := apsc.NewController(apsc.Options{
		FacadeURL:    c.facade,
		FacadeCAPool: pool,
		CADir:        c.caDir,
		MaxRetryWait: c.maxRetryWait,
		Logger:       c.logger(stderr),
		Progress:     stdout,
	})
	if err != nil {
		return err
	}
	if err := ctrl.Start(ctx); err != nil {
		return err
	}
	defer ctrl.Close()
	inst, err := ctrl.Install(ctx, settings)
	if inst != nil && inst.Result != nil && len(inst.Result.Body) > 0 {
		fmt.Fprintf(stdout, "%s\n", inst.Result.Body)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "installed: APS-Instance-ID %s, app aps.id %s\n", inst.InstanceID, inst.AppID)
	fmt.Fprintln(stdout, "(this controller exits now: the instance's calls back into APSC will fail)")
	return nil
}
