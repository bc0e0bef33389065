// Command devstack starts the gateway's processes (Microsoft simulator,
// tenant service, facade) from built binaries, prints where everything is,
// and stops them on Ctrl-C. With -demo it runs the APS controller demo
// against the stack, stops it and exits with the demo's status.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/o365gateway/gateway/sim/apsc"
	"github.com/o365gateway/gateway/sim/devstack"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	bin := fs.String("bin", "./bin", "directory of the built binaries (make build)")
	work := fs.String("work", "./.run", "work directory (databases, keys, certificates, logs); reused across runs")
	retry := fs.Duration("retry-timeout", 3*time.Second, "the facade's APS-Retry-Timeout")
	facadePort := fs.Int("facade-port", 8443, "facade HTTPS port (0 = any free port)")
	simPort := fs.Int("sim-port", 9443, "Microsoft simulator HTTPS port (0 = any free port)")
	tenantPort := fs.Int("tenant-port", 9001, "tenant service gRPC port (0 = any free port)")
	subscriptionPort := fs.Int("subscription-port", 9002, "subscription service gRPC port (0 = any free port)")
	userPort := fs.Int("user-port", 9003, "user service gRPC port (0 = any free port)")
	cloud := fs.String("cloud", "global", "the deployment's Microsoft cloud: global, china or usgov")
	replicas := fs.Int("replicas", envInt("REPLICAS", 1), "processes of each service (tenant, subscription, user) sharing the database; PostgreSQL is what replicas are meant for")
	databaseURL := fs.String("database-url", os.Getenv("DATABASE_URL"), "postgres://user@host:port/db to store every service's data there, a schema each (default: SQLite files in -work)")
	runDemo := fs.Bool("demo", false, "run the APS controller demo, then stop and exit with its status")
	verbose := fs.Bool("v", false, "also copy the processes' output to this terminal")
	logLevel := fs.String("log-level", envOr("LOG_LEVEL", "info"), "log level of the services and the facade (debug, info, warn, error)")
	allInOne := fs.Bool("all-in-one", os.Getenv("ALL_IN_ONE") == "1", "run the services and the facade as one process (the allinone binary, the single-process mode for single-host installs)")
	readyTimeout := fs.Duration("ready-timeout", 60*time.Second, "how long each process may take to become ready")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "devstack: unexpected arguments %q\n", fs.Args())
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	opts := devstack.Options{
		BinDir:       *bin,
		WorkDir:      *work,
		Cloud:        *cloud,
		DatabaseURL:  *databaseURL,
		Replicas:     *replicas,
		AllInOne:     *allInOne,
		RetryTimeout: *retry,
		Ports:        devstack.Ports{Sim: *simPort, Tenant: *tenantPort, Subscription: *subscriptionPort, User: *userPort, Facade: *facadePort},
		ReadyTimeout: *readyTimeout,
		LogLevel:     *logLevel,
		Logger:       slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	if *verbose {
		opts.Stdout, opts.Stderr = stdout, stderr
	}
	fmt.Fprintf(stdout, "starting the dev stack from %s (work directory %s) …\n", *bin, *work)
	s, err := devstack.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer func() {
		fmt.Fprintln(stdout, "stopping the dev stack …")
		if err := s.Stop(); err != nil {
			fmt.Fprintln(stderr, "devstack: stop:", err)
		}
	}()

	regCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	partner, err := s.RegisterDemoPartner(regCtx, "Demo partner")
	cancel()
	if err != nil {
		fmt.Fprintln(stderr, "devstack: register the demo partner at the simulator:", err)
		return 1
	}
	if err := s.WriteStackFile(); err != nil {
		fmt.Fprintln(stderr, "devstack: the tools' stack file:", err)
		return 1
	}
	fmt.Fprintf(stdout, "\n%s\n", s.Banner(partner))

	if *runDemo {
		pool, err := s.FacadeCAPool()
		if err != nil {
			fmt.Fprintln(stderr, "devstack: the facade's certificate:", err)
			return 1
		}
		simCA, err := s.SimCAPEM()
		if err != nil {
			fmt.Fprintln(stderr, "devstack: the simulator's CA:", err)
			return 1
		}
		demoCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		err = apsc.RunDemo(demoCtx, apsc.DemoOptions{
			FacadeURL:    s.FacadeURL,
			FacadeCAPool: pool,
			SimURL:       s.SimURL,
			SimCAPEM:     simCA,
			Partner:      partner,
			CADir:        s.ControllerCADir,
			Out:          stdout,
			Life:         true,
		})
		if err != nil {
			fmt.Fprintln(stderr, "\nDEMO FAILED:", err)
			fmt.Fprintf(stderr, "logs: %s, %s, %s, %s, %s\n", s.LogFiles[devstack.MSCloud], s.LogFiles[devstack.Tenant],
				s.LogFiles[devstack.Subscription], s.LogFiles[devstack.User], s.LogFiles[devstack.Facade])
			return 1
		}
		return 0
	}

	fmt.Fprintln(stdout, "Press Ctrl-C to stop.")
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout)
		return 0
	case err := <-s.Failed():
		fmt.Fprintln(stderr, err)
		return 1
	}
}

// envInt reads a whole number from the environment, or def.
func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return n
	}
	return def
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
