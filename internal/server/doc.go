// Package server is bake's pipeline service (`bake serve`): pipelines read
// from one HCL file (Config), run on a cron schedule or on demand through a
// queue with global and per-pipeline limits (Runner), each run a child
// `bake build -json` process whose events are stored (Store: SQLite by
// default, or PostgreSQL) and streamed live to subscribers (Hub, Server-Sent
// Events); a JSON API described by openapi.json and a server-rendered
// dashboard (Server) guarded by bearer tokens with roles; signed webhooks
// (Notifier) and Prometheus metrics.
//
// A run is a child process rather than a goroutine so that a crash in a
// builder (a panic, a cgo fault, a runaway allocation) ends that run only;
// cancelling is SIGINT, the same path as Ctrl-C, so cleanups run exactly as
// they do on a terminal; and the server builds with the same code and flags
// that CI uses, so a run that passes in CI passes here.
package server
