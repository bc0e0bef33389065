// Command o365ctl is the operator's tool of an Office 365 gateway
// deployment: it lists and shows instances, tenants, subscriptions, users
// and jobs, retries and cancels jobs, synchronizes tenants and checks their
// drift, queries the audit log and rotates keys, over the services' gRPC
// APIs with mutual TLS and a tool certificate. Against a running `make run`
// it needs no flags: it reads the dev stack's .run/stack.json.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/spf13/cobra"

	"github.com/o365gateway/gateway/services/shared/apierr"
	"github.com/o365gateway/gateway/services/shared/opsclient"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		os.Exit(1)
	}
}

// app holds the global flags and the connection.
type app struct {
	out, errOut io.Writer
	stack       string
	conf        opsclient.Config
	output      string
	timeout     time.Duration
	addrs       map[string]*string
	client      *opsclient.Client
}

func newRoot(out, errOut io.Writer) *cobra.Command {
	a := &app{out: out, errOut: errOut, addrs: map[string]*string{}}
	root := &cobra.Command{
		Use:   "o365ctl",
		Short: "Operate an Office 365 gateway deployment: jobs, resources, audit, keys",
		Long: "o365ctl talks to the gateway's tenant, subscription and user services over gRPC with mutual TLS,\n" +
			"as a tool identity that the deployment's authorization policy names. Against `make run` it needs no\n" +
			"flags: it reads the dev stack's .run/stack.json (addresses and the tool certificate).",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Name() == "version" || cmd.Name() == "completion" || cmd.Parent() != nil && cmd.Parent().Name() == "completion" {
				return nil
			}
			return a.connect()
		},
		PersistentPostRun: func(*cobra.Command, []string) {
			if a.client != nil {
				a.client.Close()
			}
		},
	}
	root.SetOut(out)
	root.SetErr(errOut)
	f := root.PersistentFlags()
	f.StringVar(&a.stack, "stack", "", "a stack file with the addresses and the tool certificate (default: .run/stack.json of the dev stack)")
	for _, svc := range opsclient.Services {
		a.addrs[svc] = f.String(svc+"-addr", "", "gRPC address of the "+svc+" service (overrides the stack file)")
	}
	f.StringVar(&a.conf.CAFile, "ca", "", "the deployment CA (PEM)")
	f.StringVar(&a.conf.CertFile, "cert", "", "the tool's certificate (PEM; its SPIFFE ID must be allowed by the policy)")
	f.StringVar(&a.conf.KeyFile, "key", "", "the tool's private key (PEM)")
	f.StringVar(&a.conf.TrustDomain, "trust-domain", "", "the deployment's SPIFFE trust domain (default o365gw.local)")
	f.StringVarP(&a.output, "output", "o", "table", "output format: table or json")
	f.DurationVar(&a.timeout, "timeout", 60*time.Second, "how long a command may take")
	root.AddCommand(a.instancesCmd(), a.tenantsCmd(), a.resourceCmd("subscriptions", "subscription"), a.resourceCmd("users", "user"),
		a.jobsCmd(), a.auditCmd(), a.keysCmd(), versionCmd(out))
	wrap(root, errOut)
	return root
}

// connect merges the flags over the stack file and dials the services.
func (a *app) connect() error {
	if a.output != "table" && a.output != "json" {
		return fmt.Errorf("--output must be table or json")
	}
	conf := opsclient.Config{Addresses: map[string]string{}}
	path := a.stack
	if path == "" {
		if p, err := opsclient.FindStack(); err == nil {
			path = p
		}
	}
	if path != "" {
		c, err := opsclient.ReadStack(path)
		if err != nil {
			return err
		}
		conf = c
	}
	if conf.Addresses == nil {
		conf.Addresses = map[string]string{}
	}
	for svc, p := range a.addrs {
		if *p != "" {
			conf.Addresses[svc] = *p
		}
	}
	for _, f := range []struct{ to, from *string }{{&conf.CAFile, &a.conf.CAFile}, {&conf.CertFile, &a.conf.CertFile},
		{&conf.KeyFile, &a.conf.KeyFile}, {&conf.TrustDomain, &a.conf.TrustDomain}} {
		if *f.from != "" {
			*f.to = *f.from
		}
	}
	if conf.CAFile == "" || conf.CertFile == "" || conf.KeyFile == "" {
		return errors.New("no tool certificate: start the dev stack (`make run`), or give --stack, or --ca, --cert and --key")
	}
	c, err := opsclient.Dial(conf)
	if err != nil {
		return err
	}
	a.client = c
	return nil
}

// ctx bounds a command.
func (a *app) ctx(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), a.timeout)
}

// wrap makes every command print its error as a person reads it.
func wrap(c *cobra.Command, errOut io.Writer) {
	if c.RunE != nil {
		run := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			err := run(cmd, args)
			if err != nil {
				fmt.Fprintln(errOut, "o365ctl:", describe(err))
			}
			return err
		}
	}
	for _, sub := range c.Commands() {
		wrap(sub, errOut)
	}
}

// describe is an error with the gateway's reason when it has one.
func describe(err error) string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		s := ""
		for i, e := range joined.Unwrap() {
			if i > 0 {
				s += "; "
			}
			s += describe(e)
		}
		return s
	}
	if e := apierr.From(err); e.Reason != apierr.Internal || e.Message != "Internal error in the gateway." {
		return e.Reason + ": " + e.Message
	}
	return err.Error()
}
