package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/bake-tool/bake/internal/server"
	"github.com/bake-tool/bake/templates"
)

const serveSynopsis = `-config server.hcl [-check] [-grace DURATION]

Runs bake as a service: the pipelines of the configuration file run on
their cron schedule or when triggered through the API or the dashboard,
each as a child 'bake build -json' process; every event is stored in the
database and streamed live; successful runs publish and promote.

The database is SQLite (server { database = "sqlite:PATH" }; by default
STATE_DIR/bake.db) or PostgreSQL (database = "postgres://USER@HOST/DB").
One server per database: a second one is refused. The API is described
by GET /api/v1/openapi.json.

-check validates the file and every template it names, with the
diagnostics 'bake validate' gives, and exits (0 valid, 2 invalid).

SIGINT or SIGTERM drains: no new run starts, running ones get -grace to
finish and are then cancelled (SIGINT, cleanups run); a second signal
cancels them at once.

Example:
  bake serve -check -config server.hcl
  bake serve -config server.hcl`

func runServe(ctx context.Context, env *cliEnv, args []string) int {
	fs := newFlagSet("serve", serveSynopsis, env.stderr)
	cfgPath := fs.String("config", "", "the configuration `FILE` (HCL)")
	check := fs.Bool("check", false, "validate the configuration and its templates, then exit")
	grace := fs.Duration("grace", 10*time.Minute, "on SIGTERM, how long running builds may go on before they are cancelled")
	pos, code, ok := parseVerbFlags(fs, args)
	if !ok {
		return code
	}
	fail := cliFail(env, "serve")
	if *cfgPath == "" || len(pos) > 0 {
		fs.Usage()
		return exitUsage
	}
	getenv := func(k string) string { v, _ := environValue(env.environ, k); return v }
	cfg, files, diags := server.LoadConfig(*cfgPath, getenv)
	if diags.HasErrors() || *check {
		templates.WriteDiagnostics(env.stderr, files, diags, false, 0, nil)
	}
	if diags.HasErrors() {
		return exitUsage
	}
	if *check {
		bad := 0
		for _, p := range cfg.Pipelines {
			res := server.CheckPipeline(ctx, p, server.CheckOptions{Version: version, Env: env.environ})
			if len(res.Diags) > 0 {
				fmt.Fprintf(env.stderr, "pipeline %q:\n", p.Name)
				templates.WriteDiagnostics(env.stderr, res.Files, res.Diags, false, 0, res.Redact)
			}
			if res.Diags.HasErrors() {
				bad++
			}
		}
		if bad > 0 {
			fmt.Fprintf(env.stderr, "bake serve: %d of %d pipeline(s) have invalid templates\n", bad, len(cfg.Pipelines))
			return exitUsage
		}
		fmt.Fprintf(env.stdout, "The configuration is valid: %d pipeline(s).\n", len(cfg.Pipelines))
		return exitOK
	}

	bin, err := os.Executable()
	if err != nil {
		return fail(exitFailed, fmt.Errorf("find the bake binary for runs: %w", err))
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, nil))
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	store, err := server.OpenStore(sigCtx, cfg.Server.Database.Reveal(), server.StoreOptions{Exclusive: true})
	if err != nil {
		return fail(exitFailed, err)
	}
	defer store.Close()
	metrics := server.NewMetrics()
	hub := server.NewHub()
	scheme := "http"
	if cfg.Server.TLSCert != "" {
		scheme = "https"
	}
	notifier := &server.Notifier{Store: store, Logger: logger, Metrics: metrics, BaseURL: scheme + "://" + cfg.Server.Listen}
	runner := server.NewRunner(cfg, store, hub, server.RunnerOptions{Bake: bin, Env: env.environ, Logger: logger, Notifier: notifier, Metrics: metrics})
	for _, p := range cfg.Pipelines {
		res := server.CheckPipeline(sigCtx, p, server.CheckOptions{Version: version, Env: env.environ, WorkDir: cfg.Server.StateDir})
		if res.Diags.HasErrors() {
			logger.Warn("pipeline template does not validate; its runs will fail until it is fixed", "pipeline", p.Name, "error", firstError(res.Diags))
		}
	}
	if err := runner.Recover(sigCtx); err != nil {
		return fail(exitFailed, err)
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fail(exitFailed, err)
	}
	srv := &http.Server{
		Handler:           server.NewServer(server.ServerOptions{Config: cfg, Store: store, Hub: hub, Runner: runner, Metrics: metrics, Logger: logger}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveErr := make(chan error, 1)
	go func() {
		if cfg.Server.TLSCert != "" {
			serveErr <- srv.ServeTLS(ln, cfg.Server.TLSCert, cfg.Server.TLSKey)
		} else {
			serveErr <- srv.Serve(ln)
		}
	}()
	logger.Info("bake serve listening", "address", scheme+"://"+ln.Addr().String(), "pipelines", len(cfg.Pipelines))
	// Start-up (every template checked, migrations, recovery) leaves
	// garbage that an idle server would keep resident until the runtime's
	// scavenger got to it: collect it and give the memory back now, and
	// drop the binary's pages that only the start ran.
	debug.FreeOSMemory()
	if _, err := server.ReleaseStartupPages(); err != nil {
		logger.Warn("could not release the start-up pages", "error", err)
	}

	runnerDone := make(chan struct{})
	go func() { runner.Run(sigCtx, *grace); close(runnerDone) }()
	select {
	case err := <-serveErr:
		stop()
		<-runnerDone
		return fail(exitFailed, err)
	case <-sigCtx.Done():
	}
	stop() // a second signal now kills the default way; cancel quickly instead:
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(again)
	logger.Info("draining: no new runs; running ones may finish", "grace", *grace)
	go func() {
		<-again
		logger.Info("second signal: cancelling running builds")
		runner.CancelAll()
	}()
	<-runnerDone
	notifier.Wait()
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	logger.Info("bake serve stopped")
	return exitInterrupted
}

func firstError(diags hcl.Diagnostics) string {
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			if d.Subject != nil {
				return fmt.Sprintf("%s: %s: %s", d.Subject, d.Summary, d.Detail)
			}
			return d.Summary + ": " + d.Detail
		}
	}
	return ""
}

const tokenSynopsis = `create -config server.hcl -role viewer|operator|admin -name NAME

Creates an API token with a role and prints it on stdout, once: the
database keeps only its SHA-256.

Example:
  bake token create -config server.hcl -role operator -name ci`

func runToken(ctx context.Context, env *cliEnv, args []string) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintf(env.stderr, "Usage: bake token %s\n", tokenSynopsis)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			return exitOK
		}
		return exitUsage
	}
	fs := newFlagSet("token create", tokenSynopsis, env.stderr)
	cfgPath := fs.String("config", "", "the configuration `FILE`, for its database")
	role := fs.String("role", "", "viewer, operator or admin")
	name := fs.String("name", "", "the token's `NAME` (who or what uses it)")
	pos, code, ok := parseVerbFlags(fs, args[1:])
	if !ok {
		return code
	}
	fail := cliFail(env, "token create")
	switch {
	case *cfgPath == "" || *name == "" || len(pos) > 0:
		fs.Usage()
		return exitUsage
	case *role != server.RoleViewer && *role != server.RoleOperator && *role != server.RoleAdmin:
		return fail(exitUsage, fmt.Errorf("-role %q: one of viewer, operator, admin", *role))
	}
	getenv := func(k string) string { v, _ := environValue(env.environ, k); return v }
	cfg, files, diags := server.LoadConfig(*cfgPath, getenv)
	if diags.HasErrors() {
		templates.WriteDiagnostics(env.stderr, files, diags, false, 0, nil)
		return exitUsage
	}
	store, err := server.OpenStore(ctx, cfg.Server.Database.Reveal(), server.StoreOptions{})
	if err != nil {
		return fail(exitFailed, err)
	}
	defer store.Close()
	tok := server.NewToken()
	if err := store.CreateToken(ctx, *name, *role, server.HashToken(tok)); err != nil {
		return fail(exitFailed, errors.New("create token: "+err.Error()))
	}
	fmt.Fprintln(env.stdout, tok)
	return exitOK
}
